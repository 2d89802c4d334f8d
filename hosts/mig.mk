# hosts/mig.mk: live migration: the transfer stream and control-record codecs, the transaction state machine, their tests.
MIG_SRCS := hosts/migstream.c hosts/migctl.c hosts/migfsm.c capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
MIG_LIBS := -lsodium

UNIT_SRCS_test_host_migstream := $(MIG_SRCS) hosts/dirproto.c hosts/fileio.c
UNIT_LIBS_test_host_migstream := $(MIG_LIBS) -lpthread
UNIT_SRCS_test_host_migfsm    := hosts/migfsm.c
FUZZ_SRCS_fuzz_migstream      := $(MIG_SRCS)
FUZZ_LIBS_fuzz_migstream      := $(MIG_LIBS)
UNIT_SRCS_test_host_migctl    := hosts/migctl.c
UNIT_LIBS_test_host_migctl    := $(MIG_LIBS)
FUZZ_SRCS_fuzz_migctl         := hosts/migctl.c
FUZZ_LIBS_fuzz_migctl         := $(MIG_LIBS)
