#!/bin/sh
# Regenerate one golden file: gen.sh HEADERS_DIR FORMAT [NO_L1TF_INVERT] > linux-REL-FORMAT.jsonl
#
# HEADERS_DIR holds one release's headers as flat files, e.g. for a kernel tree at $T:
#   for f in arch/x86/include/asm/{pgtable_types,pgtable_64,pgtable_64_types,pgtable-invert,pgtable-3level,
#            pgtable-2level,page_64_types,page_32_types}.h include/linux/{swap,swapops,radix-tree}.h; do
#     cp $T/$f DIR/; done
# FORMAT is x86-64, pae or x86-32.  The third argument marks a release before the L1TF
# inversion (v4.14.0): then DIR/pgtable_64.h must hold that release's swap macros.
# Only macro definitions are cut out of the headers (into a temporary kfrag.h); the
# harness linux_pte.c is ours.
set -eu
d=$1; fmt=$2; old=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
f=$tmp/kfrag.h
cfg="-DCONFIG_MIGRATION -DCONFIG_DEVICE_PRIVATE -DCONFIG_MEMORY_FAILURE -DCONFIG_PTE_MARKER"
case $fmt in
x86-64)
  cfg="$cfg -DFMT_64 -DCONFIG_X86_64 -DCONFIG_MEM_SOFT_DIRTY -DCONFIG_HAVE_ARCH_USERFAULTFD_WP"
  cfg="$cfg -DCONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS"
  # the last definition is the one without CONFIG_X86_5LEVEL (v4.14) or the only one
  grep 'define __PHYSICAL_MASK_SHIFT' "$d/page_64_types.h" | tail -1 > $f ;;
pae)
  cfg="$cfg -DFMT_PAE -DCONFIG_X86_32 -DCONFIG_X86_PAE"
  grep 'define __PHYSICAL_MASK_SHIFT' "$d/page_32_types.h" | head -1 > $f ;;
x86-32)
  cfg="$cfg -DFMT_32 -DCONFIG_X86_32"
  grep 'define __PHYSICAL_MASK_SHIFT' "$d/page_32_types.h" | tail -1 > $f ;;
esac
sed -n '/define _PAGE_BIT_PRESENT/,/define _PAGE_PROTNONE/p' "$d/pgtable_types.h" | grep -v '#include' >> $f
case $fmt in
x86-64)
  sed -n '/^#define SWP_TYPE_FIRST_BIT\|^#define SWP_TYPE_BITS/,/^#define __swp_entry_to_pte/p' "$d/pgtable_64.h" >> $f
  grep -h 'define _PAGE_SWP_EXCLUSIVE' "$d/pgtable_64_types.h" >> $f || true
  if [ -z "$old" ]; then sed -n '/static inline bool __pte_needs_invert/,/^#endif/p' "$d/pgtable-invert.h" | sed '$d' >> $f; fi ;;
pae)
  sed -n '/^#define SWP_TYPE_BITS/,/__pteval_swp_offset(pte)))/p' "$d/pgtable-3level.h" >> $f
  grep -h 'define _PAGE_SWP_EXCLUSIVE' "$d/pgtable-3level.h" >> $f || true
  sed -n '/static inline bool __pte_needs_invert/,/^#endif/p' "$d/pgtable-invert.h" | sed '$d' >> $f ;;
x86-32)
  sed -n '/^#define SWP_TYPE_BITS/,/^#define __swp_entry_to_pte/p' "$d/pgtable-2level.h" >> $f
  grep -h 'define _PAGE_SWP_EXCLUSIVE' "$d/pgtable-2level.h" >> $f || true
  sed -n '/static inline u64 protnone_mask/,/^}/p' "$d/pgtable-2level.h" >> $f ;;
esac
awk '/define MAX_SWAPFILES_SHIFT/{p=1} p{print} p && /^#define MAX_SWAPFILES \\/{q=1} q && /\)$/{exit}' "$d/swap.h" >> $f
# before v4.20 SWP_TYPE_SHIFT() leaves room for the radix tree's exceptional-entry bits
grep -h 'define RADIX_TREE_EXCEPTIONAL_SHIFT' "$d/radix-tree.h" >> $f 2>/dev/null || true
awk '/^#define SWP_TYPE_SHIFT/{p=1} p{print} /^#define SWP_OFFSET_MASK/{exit}' "$d/swapops.h" >> $f
for fn in 'swp_entry_t swp_entry(' 'unsigned swp_type(' 'pgoff_t swp_offset('; do
  awk -v s="static inline $fn" 'index($0, s)==1{p=1} p{print} p && /^}/{exit}' "$d/swapops.h" >> $f
done
[ -n "$old" ] && cfg="$cfg -DNO_L1TF_INVERT"
gcc -O0 -w $cfg -I"$tmp" -o "$tmp/h" "$here/linux_pte.c"
"$tmp/h"
