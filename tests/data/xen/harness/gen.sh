#!/bin/sh
# gen.sh XEN_GIT_DIR TAG > xen-VERSION-ept.jsonl: Xen's own ept_entry_t, p2m_type_t and
# p2m_access_t of release TAG (e.g. RELEASE-4.19.0), compiled with the harness xen_ept.c.
set -eu
g=$1; t=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
show() { git --git-dir="$g" show "$t:$1" 2>/dev/null; }
vmx=xen/arch/x86/include/asm/hvm/vmx/vmx.h; show $vmx >/dev/null || vmx=xen/include/asm-x86/hvm/vmx/vmx.h
p2m=xen/arch/x86/include/asm/p2m.h; show $p2m >/dev/null || p2m=xen/include/asm-x86/p2m.h
f=$tmp/xfrag.h
show $vmx | awk '/^typedef union \{/{p=1; b=""} p{b=b $0 "\n"} p && /\} ept_entry_t;/{printf "%s", b; exit}' > $f
show $p2m | awk '/^typedef enum \{/{p=1; b=""} p{b=b $0 "\n"} p && /\} p2m_type_t;/{printf "%s", b; exit}' >> $f
git --git-dir="$g" grep -h -B2 -A30 'p2m_access_n *= *0' "$t" -- xen/include | \
  awk '/typedef enum/{p=1} p{print} /\} p2m_access_t;/{exit}' >> $f
# PV: Xen's 24-bit PTE flags and the flag bits it keeps in PV guests' PTEs.
pg=xen/arch/x86/include/asm/x86_64/page.h; show $pg >/dev/null || pg=xen/include/asm-x86/x86_64/page.h
echo 'typedef uint64_t intpte_t;' >> $f
echo '#define _AC(X, Y) (X##Y)' >> $f
for fn in 'unsigned int get_pte_flags(' 'intpte_t put_pte_flags('; do
  show $pg | awk -v s="static inline $fn" 'index($0, s)==1{p=1} p{print} p && /^}/{exit}' >> $f
done
show $pg | grep -E 'define _PAGE_(GUEST_KERNEL|GNTTAB|NX_BIT) ' >> $f
show ${pg%x86_64/page.h}page.h | grep -E 'define _PAGE_AVAIL(_HIGH)? ' >> $f
cfg=""
grep -q ' tm ' $f && cfg="$cfg -DHAVE_TM"
grep -q '_rsvd' $f && cfg="$cfg -DHAVE_RSVD"
grep -q ' pw ' $f && cfg="$cfg -DHAVE_PW"
grep -q 'p2m_access_r_pw' $f && cfg="$cfg -DHAVE_R_PW"
gcc -O0 -w $cfg -I"$tmp" -o "$tmp/h" "$here/xen_ept.c"
"$tmp/h"
