/*
 * Golden-value harness for spte's Xen owner (tests/data/xen/README.md).  Ours; gen.sh cuts
 * Xen's own ept_entry_t, p2m_type_t and p2m_access_t definitions out of one release into
 * xfrag.h, so the bitfield values printed are what that release's compiler layout gives.
 */
#include <stdint.h>
#include <stdio.h>
typedef uint64_t u64;
#include "xfrag.h"

#define P(f) printf(", \"%s\": %u", #f, (unsigned)e.f)

int main(void)
{
	printf("{\"p2m_type_t\": {");
#define T(n) printf("%s\"%s\": %d", n == p2m_ram_rw ? "" : ", ", #n, (int)(n))
	T(p2m_ram_rw); T(p2m_invalid); T(p2m_ram_logdirty); T(p2m_ram_ro); T(p2m_mmio_dm); T(p2m_mmio_direct);
	T(p2m_populate_on_demand); T(p2m_grant_map_rw); T(p2m_grant_map_ro); T(p2m_ram_paging_out);
	T(p2m_ram_paged); T(p2m_ram_paging_in); T(p2m_ram_shared); T(p2m_ram_broken); T(p2m_map_foreign);
	T(p2m_ioreq_server);
	printf("}, \"p2m_access_t\": {");
#define A(n) printf("%s\"%s\": %d", n == p2m_access_n ? "" : ", ", #n, (int)(n))
	A(p2m_access_n); A(p2m_access_r); A(p2m_access_w); A(p2m_access_rw); A(p2m_access_x); A(p2m_access_rx);
	A(p2m_access_wx); A(p2m_access_rwx); A(p2m_access_rx2rw); A(p2m_access_n2rwx);
#ifdef HAVE_R_PW
	A(p2m_access_r_pw);
#endif
	printf("}, \"pv_pte_bits\": {");
#define F(n) printf(", \"%s\": \"%#llx\"", #n, (unsigned long long)put_pte_flags(n))
	printf("\"_PAGE_GUEST_KERNEL\": \"%#llx\"", (unsigned long long)put_pte_flags(_PAGE_GUEST_KERNEL));
	F(_PAGE_GNTTAB); F(_PAGE_NX_BIT); F(_PAGE_AVAIL); F(_PAGE_AVAIL_HIGH);
	printf("}}\n");
	u64 x = 0x2545f4914f6cdd1dull;
	for (int i = 0; i < 200; i++) {
		ept_entry_t e;
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		e.epte = i == 0 ? 0x8600000001234b77ull : i == 1 ? 0 : x;
		printf("{\"epte\": \"%#llx\"", (unsigned long long)e.epte);
		P(r); P(w); P(x); P(emt); P(ipat); P(sp); P(a); P(d); P(recalc); P(snp);
		printf(", \"mfn\": \"%#llx\"", (unsigned long long)e.mfn);
		P(sa_p2mt); P(access); P(suppress_ve);
#ifdef HAVE_TM
		P(tm);
#endif
#ifdef HAVE_RSVD
		P(_rsvd);
#endif
#ifdef HAVE_PW
		P(pw);
#endif
		printf("}\n");
	}
	return 0;
}
