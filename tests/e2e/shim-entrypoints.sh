#!/usr/bin/env bash
# Proves that every libc entry point the shim intercepts (GG_FN_LIST) behaves under
# `gg record` exactly as without it (same stdout, exit status and errno, failing
# calls included) and leaves the expected event in `gg trace dump --json`.
#
# Each case of tests/progs/entry.c runs twice in a fresh directory at the same path:
# plainly, then under `gg record --trace-dir`.  The two runs must print the same
# bytes and exit with the same status (the programs print errno as a number and a
# name); the dump must hold no warnings and satisfy every row of the table below
# for that case.  Set GG_CASES="open stat ..." to run only some cases.
set -uo pipefail
. tests/e2e/lib.sh
e2e_init

ENTRY=$BUILD_DIR/tests/progs/entry
PROGS=$BUILD_DIR/tests/progs
QUERY="$TOP/tests/e2e/trace_query.py"
PY=$(python3 -c 'import sys; print(sys.executable)') # not a version manager's shim
W=$T/w         # every run of every case happens here
TRACE=$T/trace # outside W: listings of W must not see it
TMO=30         # seconds a run may take

if [[ ! -x "$ENTRY" ]]; then
	tap_not_ok "test program $ENTRY is built"
	tap_finish
fi

# The expected events, one row per check: CASE VERB CONDITION...
#   has      an event of the trace satisfies every condition (trace_query.py has)
#   hasnot   no event does
#   hasproc  a process image does (trace_query.py hasproc)
#   count=N  exactly N events satisfy every condition
#   -        nothing to check in the trace but the absence of warnings
# (they are answered by one `trace_query.py DUMP batch` per case)
# Conditions are trace_query.py's (KEY OP VALUE, no spaces).  @W is the case's
# directory, @SELF the entry program, @PROGS its directory, @LONGLEN the length of
# the long path of open-longpath.  Every case also gets an automatic row: an image
# of @SELF with argv[1] = the case (that it is the root image is one check apart).
# Flags: O_WRONLY|O_CREAT|O_TRUNC = 577, O_RDWR|O_CREAT|O_EXCL = 194,
# O_WRONLY|O_CREAT = 65, O_RDWR|O_CREAT|O_APPEND = 1090, O_CLOEXEC = 524288,
# O_TMPFILE|O_RDWR = 4259842, AT_SYMLINK_NOFOLLOW = 256, AT_REMOVEDIR = 512;
# ftype 8 = regular, 4 = directory, 2 = character device, 10 = symlink.
# Wait statuses are raw: exit N = N*256, killed by signal N = N.
read -r -d '' TABLE <<'EOF'
execve          has      op=exec fn=execve path=@SELF argv.1=show argv.2=execve-child opaque=false
execve          hasproc  origin=exec argv.2=execve-child exe=@SELF parent^= env*=GGTEST=execve
execve          hasproc  argv.1=execve exit.exec=@SELF
execve-missing  has      op=exec fn=execve path=@W/no-such-prog
execve-missing  has      op=execfail fn=execve path=@W/no-such-prog errno=2
execve-noexec   has      op=execfail fn=execve path=@W/noexec.sh errno=13
execve-relative has      op=exec fn=execve path=@W/myentry
execve-relative hasproc  origin=exec argv.2=execve-relative-child
execve-envclear has      op=exec fn=execve path=@SELF argv.2=execve-envclear-child
execve-envclear hasproc  origin=exec argv.2=execve-envclear-child env*=GGTEST=envclear
execv           has      op=exec fn=execv path=@SELF argv.2=execv-child
execv           hasproc  origin=exec argv.2=execv-child env*=GGTEST=execv
execvp          has      op=exec fn=execvp path$=/sh argv.0=sh argv.1=-c
execvp          hasproc  origin=exec argv.0=sh argv.1=-c exit.status=33
execvp-missing-then-echo has op=exec fn=execvp path~=^/.*/gg-no-such-program$
execvp-missing-then-echo has op=execfail fn=execvp path~=^/.*/gg-no-such-program$ errno=2
execvp-missing-then-echo has op=exec fn=execvp path$=bin/echo argv.1=found
execvp-missing-then-echo hasproc origin=exec argv.0=echo argv.1=found
execvp-noexec-then-echo has op=exec fn=execvp path=@W/pathdir/echo
execvp-noexec-then-echo has op=execfail fn=execvp path=@W/pathdir/echo errno=13
execvp-noexec-then-echo has op=exec fn=execvp path$=bin/echo path!=@W/pathdir/echo argv.1=real
execvp-noexec-then-echo hasproc origin=exec argv.0=echo argv.1=real
execvp-noexec-only has   op=exec fn=execvp path=@W/pathdir/echo
execvp-noexec-only has   op=execfail fn=execvp path=@W/pathdir/echo errno=13
execvp-slash    has      op=exec fn=execvp path=@W/myentry
execvp-slash    hasproc  origin=exec argv.2=execvp-slash-child
execvpe         has      op=exec fn=execvpe path$=/sh argv.0=sh
execvpe         hasproc  origin=exec argv.0=sh exit.status=34 env*=GGTEST=execvpe
execl           has      op=exec fn=execl path=@SELF argv=["entry","show","execl-child","x"]
execl           hasproc  origin=exec argv.2=execl-child
execlp          has      op=exec fn=execlp path$=/sh argv.0=sh argv.1=-c
execlp          hasproc  origin=exec argv.0=sh exit.status=35
execle          has      op=exec fn=execle path=@SELF argv.2=execle-child
execle          hasproc  origin=exec argv.2=execle-child env*=GGTEST=execle
fexecve         has      op=exec fn=fexecve path=@SELF argv.2=fexecve-child
fexecve         hasproc  origin=exec argv.2=fexecve-child
execveat        has      op=exec fn=execveat path=@SELF argv.2=execveat-child
execveat        hasproc  origin=exec argv.2=execveat-child
execveat-empty  has      op=exec fn=execveat path=@SELF argv.2=execveat-empty-child
execveat-empty  hasproc  origin=exec argv.2=execveat-empty-child
execveat-missing has     op=execfail fn=execveat path=@PROGS/no-such-prog errno=2
posix_spawn     has      op=spawn fn=posix_spawn path=@SELF argv.1=spawnchild ret>0 opaque=false actions#=4 actions.0.op=chdir actions.0.path$=sub actions.1.op=open actions.1.fd=5 actions.1.path$=input.txt actions.1.flags=0 actions.2.op=dup2 actions.2.fd=1 actions.2.fd2=7 actions.3.op=close actions.3.fd=6
posix_spawn     hasproc  origin=exec argv.1=spawnchild cwd=@W/sub parent^= exit.status=44
posix_spawn     has      op=wait fn=waitpid pid>0 status=11264
posix_spawn-fchdir has   op=spawn fn=posix_spawn path=@SELF ret>0 actions.0.op=fchdir actions.0.fd>=3
posix_spawn-fchdir hasproc origin=exec argv.1=spawnchild cwd=@W/sub
posix_spawn-missing has  op=spawn fn=posix_spawn path=@W/no-such-prog errno=2
posix_spawn-envclear has op=spawn fn=posix_spawn path=@SELF argv.2=spawn-envclear-child ret>0
posix_spawn-envclear hasproc origin=exec argv.2=spawn-envclear-child env*=GGTEST=spawn-envclear
posix_spawnp    has      op=spawn fn=posix_spawnp path$=sh argv.1=-c ret>0
posix_spawnp    hasproc  origin=exec argv.0=sh argv.1=-c exit.status=36
posix_spawnp-missing has op=spawn fn=posix_spawnp path$=gg-no-such-program errno=2
system          has      op=spawn fn=system path=/bin/sh argv.0=sh argv.1=-c argv#=3
system          hasproc  origin=exec argv.0=sh argv.1=-c
popen           has      op=spawn fn=popen path=/bin/sh argv.0=sh argv.1=-c argv#=3 ret=0
popen           hasproc  origin=exec argv.0=sh argv.1=-c exit.status=4
popen           has      op=wait fn=pclose status=1024
vfork           hasproc  origin=exec argv.2=vfork-child exit.status=113 parent^=
vfork           has      op=wait fn=waitpid status=28928
vfork-busy      has      proc.origin=fork op=open fn=open path=@W/vfork-child.txt ret=4
vfork-busy      hasnot   proc.argv.1=vfork-busy op=open path=@W/vfork-child.txt
vfork-busy      has      proc.origin=fork op=fd fn=close fd=3
vfork-busy      has      proc.origin=fork op=stat fn=stat path=@W/vfork-seen
vfork-busy      count=1  proc.argv.1=vfork-busy op=stat path=@W/vfork-seen
vfork-busy      has      proc.origin=fork op=chdir fn=chdir path=@W/sub
vfork-busy      hasproc  origin=exec argv.2=vfork-busy-child cwd=@W/sub exit.status=109
vfork-busy      has      proc.origin=fork op=execfail path=@W/no-such-prog errno=2
vfork-busy      hasproc  origin=fork parent^= exit.status=126
vfork-busy      has      proc.argv.1=vfork-busy op=fd fn=close fd=3 ret=0
vfork-busy      has      proc.argv.1=vfork-busy op=open path=@W/vfork-after.txt
clone-vfork     has      op=exec fn=execve path=@SELF argv.2=clone-vfork-child
clone-vfork     hasproc  origin=exec argv.2=clone-vfork-child exit.status=187
fork            hasproc  origin=fork parent^= exit.status=7
fork            has      proc.origin=fork op=open fn=open path=@W/fork-child.txt ret=3
fork            hasnot   proc.argv.1=fork op=open path=@W/fork-child.txt
fork            has      proc.argv.1=fork op=wait fn=waitpid status=1792
forkpty         hasproc  origin=fork parent^= exit.status=9
forkpty         has      proc.origin=fork op=open fn=open path=@W/forkpty-child.txt ret>0
daemon          has      proc.origin=fork op=open fn=open path=@W/daemon-child.txt ret>0
daemon          hasnot   proc.argv.1=daemon op=open path=@W/daemon-child.txt
open            has      op=open fn=open path=@W/f.txt flags=577 mode=420 ret=3 errno=0
open            has      op=open fn=open path=@W/f.txt flags=0 ret=3
open            has      op=fd fn=close fd=3 ret=0
open-missing    has      op=open fn=open path=@W/missing.txt flags=0 ret=-1 errno=2
open-missing    has      op=open fn=open path=@W/missing-dir/x flags=65 mode=420 ret=-1 errno=2
open-longpath   has      op=open fn=open path^=@W/aaaaaaaa path#=@LONGLEN ret=-1 errno=36
open-nonutf8    has      op=open fn=open path="@W/caf\u00e9.txt" ret=3
open64          has      op=open fn=open64 path=@W/f64.txt ret=3
openat          has      op=open fn=openat path=@W/dir/rel.txt flags=65 mode=420 ret=4
openat          has      op=open fn=openat path=@W/cwdrel.txt ret=5
openat          has      op=open fn=openat path=@W/dir/missing.txt ret=-1 errno=2
openat64        has      op=open fn=openat64 path=@W/dir/rel64.txt ret=4
creat           has      op=open fn=creat path=@W/cr.txt flags=577 mode=420 ret=3
creat64         has      op=open fn=creat64 path=@W/cr64.txt flags=577 ret=3
fopen           has      op=open fn=fopen path=@W/fo.txt flags=577 ret=3
fopen           has      op=open fn=fopen path=@W/fo.txt flags=1090 ret=3
fopen           has      op=open fn=fopen path=@W/fo.txt flags=524288 ret=3
fopen-missing   has      op=open fn=fopen path=@W/missing.txt flags=0 ret=-1 errno=2
fopen64         has      op=open fn=fopen64 path=@W/fo64.txt flags=577 ret=3
freopen         has      op=open fn=freopen path=@W/fr2.txt flags=577 ret=3
freopen64       has      op=open fn=freopen64 path=@W/fr64.txt ret=3
fdopen          has      op=fd fn=fdopen fd=3 fd2=577
__open_2        has      op=open fn=__open_2 path=@W/f.txt flags=0 ret=3
__open_2        has      op=open fn=__open_2 path=@W/missing.txt ret=-1 errno=2
__open64_2      has      op=open fn=__open64_2 path=@W/f.txt ret=3
__openat_2      has      op=open fn=__openat_2 path=@W/dir/rel.txt ret=4
__openat64_2    has      op=open fn=__openat64_2 path=@W/dir/rel.txt ret=4
o_tmpfile       has      op=open fn=open path~=^@W(/\.)?$ flags=4259842 ret=3
mkstemp         has      op=open fn=mkstemp path~=^@W/mkst-[A-Za-z0-9]{6}$ flags=194 ret=3
mkstemp64       has      op=open fn=mkstemp64 path~=^@W/mkst64-[A-Za-z0-9]{6}$ ret=3
mkostemp        has      op=open fn=mkostemp path~=^@W/mkost-[A-Za-z0-9]{6}$ ret=3
mkostemp64      has      op=open fn=mkostemp64 path~=^@W/mkost64-[A-Za-z0-9]{6}$ ret=3
mkstemps        has      op=open fn=mkstemps path~=^@W/mkss-[A-Za-z0-9]{6}\.c$ flags=194 ret=3
mkstemps64      has      op=open fn=mkstemps64 path~=^@W/mkss64-[A-Za-z0-9]{6}\.c$ ret=3
mkostemps       has      op=open fn=mkostemps path~=^@W/mkoss-[A-Za-z0-9]{6}\.c$ ret=3
mkostemps64     has      op=open fn=mkostemps64 path~=^@W/mkoss64-[A-Za-z0-9]{6}\.c$ ret=3
mkstemp-bad     -
tmpfile         has      op=open fn=tmpfile ret=3
tmpfile64       has      op=open fn=tmpfile64 ret=3
stat            has      op=stat fn=stat path=@W/f.txt ret=0 errno=0 ftype=8
stat            has      op=stat fn=stat path=@W/dir ret=0 ftype=4
stat            has      op=stat fn=stat path=@W/lnk ret=0 ftype=8
stat            count=1  op=stat fn=stat path=@W/f.txt
stat-missing    has      op=stat fn=stat path=@W/missing ret=-1 errno=2 ftype=0
stat-missing    has      op=stat fn=stat path=@W/f.txt/x ret=-1 errno=20
stat64          has      op=stat fn=stat64 path=@W/f.txt ret=0 ftype=8
lstat           has      op=stat fn=lstat path=@W/lnk ret=0 ftype=10
lstat           has      op=stat fn=lstat path=@W/missing ret=-1 errno=2
lstat64         has      op=stat fn=lstat64 path=@W/lnk ret=0 ftype=10
fstatat         has      op=stat fn=fstatat path=@W/dir/rel.txt flags=0 ret=0 ftype=8
fstatat         has      op=stat fn=fstatat path=@W/dir/dlnk flags=256 ret=0 ftype=10
fstatat         has      op=stat fn=fstatat path=@W/dir/missing ret=-1 errno=2
fstatat64       has      op=stat fn=fstatat64 path=@W/dir/rel.txt ret=0 ftype=8
statx           has      op=stat fn=statx path=@W/dir/rel.txt ret=0 ftype=8
statx           has      op=stat fn=statx path=@W/missing ret=-1 errno=2
__xstat         has      op=stat fn=__xstat path=@W/f.txt ret=0 ftype=8
__xstat         has      op=stat fn=__xstat path=@W/missing ret=-1 errno=2
__xstat64       has      op=stat fn=__xstat64 path=@W/f.txt ret=0 ftype=8
__lxstat        has      op=stat fn=__lxstat path=@W/lnk ret=0 ftype=10
__lxstat64      has      op=stat fn=__lxstat64 path=@W/lnk ret=0 ftype=10
__fxstatat      has      op=stat fn=__fxstatat path=@W/dir/rel.txt ret=0 ftype=8
__fxstatat64    has      op=stat fn=__fxstatat64 path=@W/dir/rel.txt ret=0 ftype=8
access          has      op=stat fn=access path=@W/f.txt flags=4 ret=0
access          has      op=stat fn=access path=@W/f.txt flags=1 ret=-1 errno=13
access          has      op=stat fn=access path=@W/missing flags=0 ret=-1 errno=2 ftype=0
faccessat       has      op=stat fn=faccessat path=@W/dir/rel.txt ret=0
faccessat       has      op=stat fn=faccessat path=@W/dir/missing ret=-1 errno=2
eaccess         has      op=stat fn=eaccess path=@W/f.txt ret=0
eaccess         has      op=stat fn=eaccess path=@W/missing ret=-1 errno=2
euidaccess      has      op=stat fn=euidaccess path=@W/f.txt ret=0
readlink        has      op=stat fn=readlink path=@W/lnk ret=10 errno=0 target=target.txt
readlink        has      op=stat fn=readlink path=@W/f.txt ret=-1 errno=22
readlink        has      op=stat fn=readlink path=@W/missing ret=-1 errno=2
readlinkat      has      op=stat fn=readlinkat path=@W/dir/dlnk ret=7 target=rel.txt
realpath        has      op=stat fn=realpath path$=/lnk target=@W/target.txt errno=0
realpath        has      op=stat fn=realpath path=@W/f.txt target=@W/f.txt errno=0
realpath-missing has     op=stat fn=realpath path=@W/nodir/x ret=-1 errno=2
canonicalize_file_name has op=stat fn=canonicalize_file_name path=@W/lnk target=@W/target.txt
__realpath_chk  has      op=stat fn=__realpath_chk path=@W/f.txt target=@W/f.txt
statvfs         has      fn=statvfs path~=^@W(/\.)?$ ret=0
statvfs         has      fn=statvfs path=@W/missing ret=-1 errno=2
opendir         has      op=list fn=opendir path=@W/listdir names*=a names*=b names*=c names#=3
opendir         count=1  op=list path=@W/listdir
opendir-missing has      op=list fn=opendir path=@W/nodir errno=2
opendir-missing has      op=list fn=opendir path=@W/f.txt errno=20
fdopendir       has      op=list fn=fdopendir path=@W/listdir names*=a names#=3
scandir         has      op=list fn=scandir path=@W/listdir names*=c names#=3
scandir         has      op=list fn=scandir path=@W/nodir errno=2
scandir64       has      op=list fn=scandir64 path=@W/listdir names#=3
scandirat       has      op=list fn=scandirat path=@W/listdir names*=b names#=3
rename          has      op=ns fn=rename path=@W/r1 path2=@W/r2 ret=0 errno=0
rename-missing-dir has   op=ns fn=rename path=@W/r2 path2=@W/nodir/r3 ret=-1 errno=2
rename-missing-dir has   op=ns fn=rename path=@W/nope path2=@W/x ret=-1 errno=2
renameat        has      op=ns fn=renameat path=@W/dir/rel.txt path2=@W/moved.txt ret=0
renameat2       has      op=ns fn=renameat2 path=@W/x path2=@W/y arg=1 ret=-1 errno=17
renameat2       has      op=ns fn=renameat2 path=@W/x path2=@W/z arg=1 ret=0
link            has      op=ns fn=link path=@W/f.txt path2=@W/hl ret=0
link            has      op=ns fn=link path=@W/f.txt path2=@W/hl ret=-1 errno=17
linkat          has      op=ns fn=linkat path=@W/dir/rel.txt path2=@W/hl2 ret=0
symlink         has      op=ns fn=symlink path=@W/sl path2=target.txt ret=0
symlinkat       has      op=ns fn=symlinkat path=@W/dir/sl2 path2=../t ret=0
unlink          has      op=ns fn=unlink path=@W/f.txt ret=0
unlink          has      op=ns fn=unlink path=@W/f.txt ret=-1 errno=2
unlinkat        has      op=ns fn=unlinkat path=@W/dir/rel.txt arg=0 ret=0
unlinkat        has      op=ns fn=unlinkat path=@W/emptydir arg=512 ret=0
remove          has      op=ns fn=remove path=@W/f.txt ret=0
remove          has      op=ns fn=remove path=@W/emptydir ret=0 errno=0
remove          has      op=ns fn=remove path=@W/missing ret=-1 errno=2
mkdir           has      op=ns fn=mkdir path=@W/nd arg=493 ret=0
mkdir           has      op=ns fn=mkdir path=@W/nd ret=-1 errno=17
mkdirat         has      op=ns fn=mkdirat path=@W/dir/nd2 arg=448 ret=0
rmdir           has      op=ns fn=rmdir path=@W/emptydir ret=0
rmdir           has      op=ns fn=rmdir path=@W/dir ret=-1 errno=39
truncate        has      op=ns fn=truncate path=@W/f.txt arg=3 ret=0
truncate        has      op=ns fn=truncate path=@W/missing ret=-1 errno=2
truncate64      has      op=ns fn=truncate64 path=@W/f.txt arg=2 ret=0
chmod           has      op=ns fn=chmod path=@W/f.txt arg=384 ret=0
fchmodat        has      op=ns fn=fchmodat path=@W/dir/rel.txt arg=416 ret=0
chdir           has      op=chdir fn=chdir path=@W/dir ret=0
chdir           has      op=open fn=open path=@W/dir/rel.txt ret=3
chdir-missing   has      op=chdir fn=chdir path=@W/nodir ret=-1 errno=2
fchdir          has      op=chdir fn=fchdir path=@W/dir ret=0
fchdir          has      op=open fn=open path=@W/dir/rel.txt ret=4
dup             has      op=fd fn=dup fd=3 fd2=-1 ret=4
dup2            has      op=fd fn=dup2 fd=3 fd2=10 ret=10
dup3            has      op=fd fn=dup3 fd=3 fd2=11 ret=11
fcntl-dupfd     has      op=fd fn=fcntl fd=3 fd2=20 ret=20
fcntl-dupfd     has      op=fd fn=fcntl fd=3 fd2=20 ret=21
fcntl-dupfd-cloexec has  op=fd fn=fcntl fd=3 fd2=30 ret=30
fcntl64         has      op=fd fn=fcntl64 fd=3 fd2=40 ret=40
close           has      op=fd fn=close fd=3 fd2=-1 ret=0
close_range     has      op=fd fn=close_range fd=3 fd2=100 ret=0
close_range     has      op=open fn=open path=@W/after-close-range.txt ret=3
close_range     has      op=open fn=open path=@W/after-close-range2.txt ret=3
closefrom       has      op=fd fn=closefrom fd=3
closefrom       has      op=open fn=open path=@W/after-closefrom.txt ret=3
dlopen          has      op=objs objects*$=/libz.so.1
dlopen          has      op=objs interp= objects*$=/libz.so.1 objects!*=/lib/x86_64-linux-gnu/libc.so.6
dlopen-missing  -
dlmopen         has      op=objs objects*$=/libm.so.6
wait            has      op=wait fn=wait pid>0 status=1280
wait            hasproc  origin=fork exit.status=5
waitpid-signal  has      op=wait fn=waitpid pid>0 status=10
waitpid-signal  hasproc  origin=fork exit.signal=10
waitpid-sigkill has      op=wait fn=waitpid pid>0 status=9
waitpid-sigkill hasproc  origin=fork exit.signal=9
wait3           has      op=wait fn=wait3 pid>0 status=1536
wait3           hasproc  origin=fork exit.status=6
wait4-signal    has      op=wait fn=wait4 pid>0 status=15
wait4-signal    hasproc  origin=fork exit.signal=15
waitid          has      op=wait fn=waitid pid>0 status=2048
waitid          hasproc  origin=fork exit.status=8
exit            has      op=exit how=exit status=37
exit            hasproc  argv.1=exit exit.status=37
_exit           has      op=exit how=_exit status=38
_exit           hasproc  argv.1=_exit exit.status=38
_Exit           has      op=exit how=_exit status=39
_Exit           hasproc  argv.1=_Exit exit.status=39
return          has      op=exit how=dtor
return          hasproc  argv.1=return exit.normal=true
errno-keep      has      op=open fn=open path=@W/f.txt ret=3
errno-keep      has      op=stat fn=realpath path=@W/f.txt target=@W/f.txt errno=0
stdin-read      count=1  op=stdin
stdin-read      has      op=stdin fn=read ftype=8 tty=false
stdin-devnull   has      op=stdin fn=read ftype=2 tty=false
stdin-tty       has      op=stdin fn=read ftype=2 tty=true
stdin-readv     has      op=stdin fn=readv ftype=8 tty=false
stdin-pread     has      op=stdin fn=pread ftype=8
stdin-pread64   has      op=stdin fn=pread64 ftype=8
stdin-fread     has      op=stdin fn=fread ftype=8
stdin-fgets     has      op=stdin fn=fgets ftype=8
stdin-fgets     count=1  op=stdin
stdin-getline   has      op=stdin fn=getline ftype=8
stdin-getdelim  has      op=stdin fn=getdelim ftype=8
stdin-fgetc     has      op=stdin fn=fgetc ftype=8
stdin-getc      has      op=stdin fn=getc ftype=8
stdin-getchar   has      op=stdin fn=getchar ftype=8
stdin-__uflow   has      op=stdin fn=__uflow ftype=8
stdin-__underflow has    op=stdin fn=__underflow ftype=8
stdin-fscanf    has      op=stdin fn=fscanf ftype=8
stdin-scanf     has      op=stdin fn=scanf ftype=8
stdin-vfscanf   has      op=stdin fn=vfscanf ftype=8
stdin-__isoc99_fscanf has op=stdin fn=__isoc99_fscanf ftype=8
stdin-__isoc99_scanf has op=stdin fn=__isoc99_scanf ftype=8
stdin-__isoc99_vfscanf has op=stdin fn=__isoc99_vfscanf ftype=8
stdin-fgetc_unlocked has op=stdin fn=fgetc_unlocked ftype=8
stdin-getc_unlocked has  op=stdin fn=getc_unlocked ftype=8
stdin-getchar_unlocked has op=stdin fn=getchar_unlocked ftype=8
stdin-fread_unlocked has op=stdin fn=fread_unlocked ftype=8
stdin-fgets_unlocked has op=stdin fn=fgets_unlocked ftype=8
stdin-__read_chk has     op=stdin fn=__read_chk ftype=8
stdin-__pread_chk has    op=stdin fn=__pread_chk ftype=8
stdin-__pread64_chk has  op=stdin fn=__pread64_chk ftype=8
stdin-__fread_chk has    op=stdin fn=__fread_chk ftype=8
stdin-__fread_unlocked_chk has op=stdin fn=__fread_unlocked_chk ftype=8
stdin-__fgets_chk has    op=stdin fn=__fgets_chk ftype=8
stdin-__fgets_unlocked_chk has op=stdin fn=__fgets_unlocked_chk ftype=8
stdin-not       hasnot   op=stdin
socket          has      op=net fn=socket domain=2 type=1 ret=4 errno=0
socket          count=1  op=net domain=2
socket          has      op=net fn=socket domain=10 type=2 ret=6
socket          hasnot   op=net domain=1
EOF

# Entry points of GG_FN_LIST without a fn=NAME row, and the row that covers them.
declare -A COVERED=(
	[fork]="fork: an image of origin fork"
	[vfork]="vfork: the exec'd child of vfork"
	[exit]="exit: how=exit"
	[_exit]="_exit: how=_exit"
	[_Exit]="_Exit: how=_exit"
	[dlopen]="dlopen: an objs event"
	[dlmopen]="dlmopen: an objs event"
)

# Fill in the placeholders of a table row.
expand() {
	local s=$1
	s=${s//@SELF/$ENTRY}
	s=${s//@PROGS/$PROGS}
	s=${s//@LONGLEN/$((${#W} + 5000))}
	s=${s//@W/$W}
	printf '%s' "$s"
}

# run_case CASE MODE: run the case in a fresh $W; output in $T/MODE.{out,err,rc}.
run_case() {
	local c=$1 mode=$2 rc=0
	rm -rf "$W" "$TRACE"
	mkdir -p "$W" "$TRACE"
	if [[ $mode == plain ]]; then
		(cd "$W" && exec timeout -k 5 "$TMO" "$ENTRY" "$c") \
			</dev/null >"$T/$mode.out" 2>"$T/$mode.err" || rc=$?
	else
		(cd "$W" && exec timeout -k 5 "$TMO" "$GG" record --trace-dir "$TRACE" -- "$ENTRY" "$c") \
			</dev/null >"$T/$mode.out" 2>"$T/$mode.err" || rc=$?
	fi
	echo "$rc" >"$T/$mode.rc"
}

# The case list and the table must agree, and every entry point must be covered.
mapfile -t CASES < <("$ENTRY" --list)
declare -A ROWS=()
while read -r c _; do
	[[ -n "$c" ]] && ROWS[$c]=1
done <<<"$TABLE"
if (
	bad=0
	for c in "${CASES[@]}"; do
		[[ -n "${ROWS[$c]:-}" ]] || { echo "case '$c' has no row in the table"; bad=1; }
	done
	declare -A known=()
	for c in "${CASES[@]}"; do
		known[$c]=1
	done
	for c in "${!ROWS[@]}"; do
		[[ -n "${known[$c]:-}" ]] || { echo "table row for unknown case '$c'"; bad=1; }
	done
	fns=$(sed -n '/^#define GG_FN_LIST/,/^$/p' "$TOP/shim/trace_format.h" | grep -o 'X([A-Za-z0-9_]*)' | sed 's/X(\(.*\))/\1/')
	for fn in $fns; do
		grep -q " fn=$fn\( \|$\)" <<<"$TABLE" && continue
		[[ -n "${COVERED[$fn]:-}" ]] && continue
		echo "entry point '$fn' has no case"
		bad=1
	done
	exit $bad
) >"$T/coverage.log" 2>&1; then
	tap_ok "entry: every GG_FN_LIST entry point has a case and every case an expected event"
else
	tap_not_ok "entry: every GG_FN_LIST entry point has a case and every case an expected event"
	tap_diag "$T/coverage.log"
fi

selected=("${CASES[@]}")
if [[ -n "${GG_CASES:-}" ]]; then
	read -r -a selected <<<"$GG_CASES"
fi

NOT_ROOT=()
: >"$T/root.log"
set -f # conditions hold *, ?, [ ]
for c in "${selected[@]}"; do
	diag=$T/diag
	: >"$diag"
	run_case "$c" plain
	run_case "$c" shim
	prc=$(cat "$T/plain.rc") src=$(cat "$T/shim.rc")
	if [[ "$prc" != "$src" ]]; then
		echo "exit status: plain $prc, under the shim $src" >>"$diag"
	fi
	if ! cmp -s "$T/plain.out" "$T/shim.out"; then
		echo "stdout differs (plain vs under the shim):" >>"$diag"
		diff -a -u "$T/plain.out" "$T/shim.out" | sed 1,2d | head -n 30 >>"$diag"
	fi
	if ! cmp -s "$T/plain.err" "$T/shim.err"; then
		echo "stderr under the shim:" >>"$diag"
		head -n 10 "$T/shim.err" >>"$diag"
	fi
	drc=0
	"$GG" trace dump --json --trace-dir "$TRACE" >"$T/dump.json" 2>"$T/dump.err" || drc=$?
	if ((drc != 0)) || [[ -s "$T/dump.err" ]]; then
		echo "gg trace dump --json: exit $drc" >>"$diag"
		head -n 10 "$T/dump.err" >>"$diag"
	fi
	# the root image is checked apart (one line for all cases, below)
	if ! "$PY" "$QUERY" "$T/dump.json" hasproc origin=root parent=null exe="$ENTRY" argv.1="$c" >"$T/q.out" 2>&1; then
		NOT_ROOT+=("$c")
		[[ -s "$T/root.log" ]] || head -n 6 "$T/q.out" >"$T/root.log"
	fi
	# no warnings, the automatic row, then the case's own rows: one batch
	{
		echo "warnings"
		expand "hasproc exe=@SELF argv.1=$c"
		echo
		while read -r rc_case rest; do
			[[ "$rc_case" == "$c" && "$rest" != - ]] || continue
			expand "$rest"
			echo
		done <<<"$TABLE"
	} >"$T/queries"
	"$PY" "$QUERY" "$T/dump.json" batch <"$T/queries" >>"$diag" 2>&1
	if [[ -s "$diag" ]]; then
		tap_not_ok "entry $c"
		tap_diag "$diag" 60
	else
		tap_ok "entry $c"
	fi
done
set +f

# The command gg record ran has no recorded ancestor: origin root, no parent.
if ((${#NOT_ROOT[@]} == 0)); then
	tap_ok "entry: the command gg record runs is the root image (origin root, parent null)"
else
	tap_not_ok "entry: the command gg record runs is the root image (origin root, parent null)"
	echo "# not so in ${#NOT_ROOT[@]} of ${#selected[@]} cases: ${NOT_ROOT[*]:0:8} ..."
	tap_diag "$T/root.log" 6
fi

tap_finish
