/*
 * Golden-value harness for spte's Linux owner (tests/data/linux/README.md).
 *
 * This file is ours; it contains no kernel code.  gen.sh cuts the kernel's own macro
 * definitions out of one release's headers into kfrag.h and compiles this file against
 * them, so every value printed below is what that release's macros compute.
 *
 * Build flags: -DFMT_64 (x86-64), -DFMT_PAE (3-level), -DFMT_32 (2-level), plus the
 * kernel configuration assumed (gen.sh: CONFIG_MIGRATION, CONFIG_DEVICE_PRIVATE,
 * CONFIG_MEMORY_FAILURE, CONFIG_PTE_MARKER, and on x86-64 CONFIG_MEM_SOFT_DIRTY,
 * CONFIG_HAVE_ARCH_USERFAULTFD_WP, CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>

typedef uint64_t u64;
typedef uint32_t u32;
#ifdef FMT_64
typedef uint64_t pteval_t;
typedef struct { pteval_t pte; } pte_t;
#define BITS_PER_LONG 64
#elif defined(FMT_PAE)
typedef uint64_t pteval_t;
typedef union { struct { u32 pte_low, pte_high; }; pteval_t pte; } pte_t;
#define BITS_PER_LONG 32
#else
typedef uint32_t pteval_t;
typedef union { pteval_t pte; pteval_t pte_low; } pte_t;
#define BITS_PER_LONG 32
#endif
#define pte_val(x) ((x).pte)
#define __pte(x) ((pte_t){ .pte = (x) })
#define _AT(T, X) ((T)(X))
#define BIT(n) (1UL << (n))
#define BITS_PER_XA_VALUE (BITS_PER_LONG - 1)

#if BITS_PER_LONG == 32
#define long int /* the kernel's unsigned long on a 32-bit build */
#endif
typedef unsigned long pgoff_t;
typedef struct { unsigned long val; } swp_entry_t;
#include "kfrag.h"
#if BITS_PER_LONG == 32
#undef long
#endif

#define PTE_PFN_MASK (((u64)1 << __PHYSICAL_MASK_SHIFT) - 1 & ~(u64)0xfff)
#ifndef _PAGE_KNL_ERRATUM_MASK
#define _PAGE_KNL_ERRATUM_MASK 0
#endif
#ifdef NO_L1TF_INVERT
static inline u64 protnone_mask(u64 val) { (void)val; return 0; }
#endif

static pteval_t swp_flags_mask(void)
{
	pteval_t m = 0;
#ifdef _PAGE_SWP_EXCLUSIVE
	m |= _PAGE_SWP_EXCLUSIVE;
#endif
	m |= _PAGE_SWP_SOFT_DIRTY;
#ifdef _PAGE_SWP_UFFD_WP
	m |= _PAGE_SWP_UFFD_WP;
#endif
	return m;
}

static void decode(u64 v)
{
	pte_t pte = { .pte = (pteval_t)v };
	int none = !(pte.pte & ~(pteval_t)_PAGE_KNL_ERRATUM_MASK);
	int present = !!(pte.pte & (_PAGE_PRESENT | _PAGE_PROTNONE));
	int protnone = (pte.pte & (_PAGE_PROTNONE | _PAGE_PRESENT)) == _PAGE_PROTNONE;
	printf("{\"pte\": \"%#llx\", \"none\": %d, \"present\": %d, \"protnone\": %d",
	       (unsigned long long)pte.pte, none, present, protnone);
	if (present) {
		u64 pfn = (u64)pte.pte;
		pfn ^= protnone_mask(pfn);
		printf(", \"pfn\": \"%#llx\"", (unsigned long long)((pfn & PTE_PFN_MASK) >> 12));
	} else if (!none) {
		pteval_t flags = pte.pte & swp_flags_mask();
		pte_t bare = { .pte = pte.pte & ~swp_flags_mask() };
		swp_entry_t arch = __pte_to_swp_entry(bare);
		swp_entry_t e = swp_entry(__swp_type(arch), __swp_offset(arch));
		printf(", \"swp_flags\": \"%#llx\", \"swp_type\": %u, \"swp_offset\": \"%#llx\", \"swp_val\": \"%#llx\"",
		       (unsigned long long)flags, swp_type(e), (unsigned long long)swp_offset(e),
		       (unsigned long long)e.val);
	}
	printf("}\n");
}

static void encode(unsigned type, unsigned long long offset)
{
	/* The arch entry a swp_entry_t becomes: __swp_entry_to_pte(__swp_entry(type, offset)). */
	pte_t pte = __swp_entry_to_pte(__swp_entry(type, (pgoff_t)offset));
	printf("{\"encode\": [%u, \"%#llx\"], \"pte\": \"%#llx\"}\n", type, offset, (unsigned long long)pte.pte);
}

static u64 protnone_pte(unsigned long long pfn, u64 prot)
{
	/* pfn_pte(): the PFN is inverted when the protection is not present (L1TF). */
	u64 v = (u64)pfn << 12;
	v ^= protnone_mask(prot);
	v &= PTE_PFN_MASK;
	printf("{\"pfn_pte\": [\"%#llx\", \"%#llx\"], \"pte\": \"%#llx\"}\n", pfn, (unsigned long long)prot,
	       (unsigned long long)(v | prot));
	return v | prot;
}

#define C(name) printf("%s\"%s\": \"%#llx\"", first ? "" : ", ", #name, (unsigned long long)(name)), first = 0
#define N(name) printf("%s\"%s\": %d", first ? "" : ", ", #name, (int)(name)), first = 0

int main(void)
{
	int first = 1;
	printf("{\"constants\": {");
	C(_PAGE_PRESENT); C(_PAGE_RW); C(_PAGE_USER); C(_PAGE_PWT); C(_PAGE_PCD); C(_PAGE_ACCESSED);
	C(_PAGE_DIRTY); C(_PAGE_PSE); C(_PAGE_PAT); C(_PAGE_GLOBAL); C(_PAGE_PROTNONE); C(_PAGE_SPECIAL);
	C(_PAGE_CPA_TEST); C(_PAGE_SOFT_DIRTY); C(_PAGE_SWP_SOFT_DIRTY); C(_PAGE_NX); C(_PAGE_KNL_ERRATUM_MASK);
	C(_PAGE_PKEY_BIT0); C(_PAGE_PKEY_BIT1); C(_PAGE_PKEY_BIT2); C(_PAGE_PKEY_BIT3); C(PTE_PFN_MASK);
#ifdef _PAGE_DEVMAP
	C(_PAGE_DEVMAP);
#endif
#ifdef _PAGE_UFFD_WP
	C(_PAGE_UFFD_WP); C(_PAGE_SWP_UFFD_WP);
#endif
#ifdef _PAGE_SWP_EXCLUSIVE
	C(_PAGE_SWP_EXCLUSIVE);
#endif
#ifdef _PAGE_SAVED_DIRTY
	C(_PAGE_SAVED_DIRTY);
#endif
#ifdef _PAGE_NOPTISHADOW
	C(_PAGE_NOPTISHADOW);
#endif
#ifdef _PAGE_KERNEL_4K
	C(_PAGE_KERNEL_4K);
#endif
#ifdef _PAGE_SOFTW4
	C(_PAGE_SOFTW4);
#endif
	printf("}, \"swap_types\": {");
	first = 1;
	N(MAX_SWAPFILES_SHIFT); N(MAX_SWAPFILES); N(SWP_HWPOISON); N(SWP_MIGRATION_READ); N(SWP_MIGRATION_WRITE);
	N(SWP_DEVICE_WRITE); N(SWP_DEVICE_READ);
#ifdef SWP_MIGRATION_READ_EXCLUSIVE
	N(SWP_MIGRATION_READ_EXCLUSIVE);
#endif
#ifdef SWP_DEVICE_EXCLUSIVE_WRITE
	N(SWP_DEVICE_EXCLUSIVE_WRITE); N(SWP_DEVICE_EXCLUSIVE_READ);
#endif
#ifdef SWP_DEVICE_EXCLUSIVE
	N(SWP_DEVICE_EXCLUSIVE);
#endif
#ifdef SWP_PTE_MARKER
	N(SWP_PTE_MARKER);
#endif
#ifdef SWP_SWAPIN_ERROR
	N(SWP_SWAPIN_ERROR);
#endif
	printf("}}\n");

	static const u64 fixed[] = {
		0, 0x1, 0x20, 0x40, 0x60, 0x80, 0x100, 0x120, 0x608, 0x800000018f8a9027ull, 0x80000001234560a7ull,
		0x3ffffffffffffe00ull, 0xfffffffffffffe00ull, 0xffffffffffffffffull, 0xfffffffffffffffeull,
		0x7fffffffffffc000ull, 0x4000, 0x200, 0x2, 0x4, 0x8, 0x10, 0x8000000000000000ull, 0xf800000000000000ull,
		0xfffffffffedcbe00ull, 0x07fffffedcba9e00ull, 0x0000000012345100ull, 0xffffffedcbaa9120ull,
	};
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		decode(fixed[i]);
	u64 x = 0x9e3779b97f4a7c15ull; /* a fixed xorshift sequence of not-present-looking values */
	for (int i = 0; i < 300; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		decode(i % 3 == 0 ? x : x & ~1ull);
	}
	static const unsigned types[] = { 0, 1, 7, 26, 27, 28, 29, 30, 31 };
	static const unsigned long long offsets[] = { 0, 1, 0x1234, 0x3ffffff, 0x7ffffff, 0xfffffffull, 0x3ffffffffffffull };
	for (unsigned t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		for (unsigned o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
			pte_t p = __swp_entry_to_pte(__swp_entry(types[t], (pgoff_t)offsets[o]));
			encode(types[t], (pgoff_t)offsets[o]);
			decode((u64)p.pte);
			decode((u64)(p.pte | swp_flags_mask()));
		}
	static const unsigned long long pfns[] = { 0, 1, 0x12345, 0x18f8a9, 0xfffff, 0xffffffffffull };
	static const u64 prots[] = { _PAGE_PROTNONE | _PAGE_ACCESSED, _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED };
	for (unsigned p = 0; p < sizeof(pfns) / sizeof(pfns[0]); p++)
		for (unsigned q = 0; q < 2; q++) {
			decode(protnone_pte(pfns[p], prots[q]));
		}
	return 0;
}
