# hosts/mig.mk: live migration groundwork: the transfer stream codec and the transaction state machine, their tests.
MIG_SRCS := hosts/migstream.c hosts/migfsm.c capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
MIG_LIBS := -lsodium

UNIT_SRCS_test_host_migstream := $(MIG_SRCS) hosts/dirproto.c
UNIT_LIBS_test_host_migstream := $(MIG_LIBS) -lpthread
UNIT_SRCS_test_host_migfsm    := hosts/migfsm.c
FUZZ_SRCS_fuzz_migstream      := $(MIG_SRCS)
FUZZ_LIBS_fuzz_migstream      := $(MIG_LIBS)
