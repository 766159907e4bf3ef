#!/usr/bin/env python3
# Used by TestLocalAddressesWithoutNetlink (localaddr_test.go).
# Run a command with socket(AF_NETLINK, ...) refused with EAFNOSUPPORT,
# as systemd's RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX does.
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
BPF_LD, BPF_W, BPF_ABS, BPF_JMP, BPF_JEQ, BPF_K, BPF_RET = 0x00, 0x00, 0x20, 0x05, 0x10, 0x00, 0x06
SECCOMP_RET_ALLOW = 0x7fff0000; SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xc000003e; NR_socket = 41; AF_NETLINK = 16; EAFNOSUPPORT = 97
def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    stmt(BPF_LD|BPF_W|BPF_ABS, 4),            # arch
    jump(BPF_JMP|BPF_JEQ|BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    stmt(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
    stmt(BPF_LD|BPF_W|BPF_ABS, 0),            # nr
    jump(BPF_JMP|BPF_JEQ|BPF_K, NR_socket, 0, 3),
    stmt(BPF_LD|BPF_W|BPF_ABS, 16),           # args[0] low word
    jump(BPF_JMP|BPF_JEQ|BPF_K, AF_NETLINK, 0, 1),
    stmt(BPF_RET|BPF_K, SECCOMP_RET_ERRNO|EAFNOSUPPORT),
    stmt(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
])
n = len(prog)//8
buf = ctypes.create_string_buffer(prog)
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = SockFprog(n, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) != 0: sys.exit("no_new_privs failed")
if libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0: sys.exit("seccomp failed: %d" % ctypes.get_errno())
os.execvp(sys.argv[1], sys.argv[1:])
