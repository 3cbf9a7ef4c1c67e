#!/usr/bin/env python3
# exchange.py DIR A B - the attacker of tests/bats/sec-source.bats: swap
# the names A and B in DIR with renameat2(RENAME_EXCHANGE) as fast as it
# can, until killed, so that a path that is a regular file one instant is
# a symlink out of the source roots the next. Writes its pid into
# DIR/.swapping once the first exchange worked (so the test knows the race
# is on, and whom to stop).
import ctypes
import os
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2

libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                      ctypes.c_char_p, ctypes.c_uint]

os.chdir(sys.argv[1])
a, b = sys.argv[2].encode(), sys.argv[3].encode()
if renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
    sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
with open(".swapping.tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(".swapping.tmp", ".swapping")
while renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
    pass
sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
