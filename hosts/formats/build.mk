# hosts/formats/build.mk: the wire and file formats host programs share, their codecs, unit tests and fuzz targets.
#
# Groups the programs link (each also needs the formats' library, -lsodium; the migration
# stream's AES-256-GCM also needs CRYPTO_LIBS): the directory protocol (its key files are opened with fileio_open_regular).
FORMAT_DIR_SRCS      := hosts/formats/dirproto.c $(COMMON_FILEIO_SRCS)
# A .cap image (header, checksum, ELF, load plan) and a snapshot file (header, MAC, pages),
# plus the control socket (its run directory holds the snapshot key).
FORMAT_IMAGE_SRCS    := hosts/formats/image.c hosts/formats/elfload.c
FORMAT_SNAPSHOT_SRCS := hosts/formats/snapfile.c hosts/formats/snapfile_body.c hosts/formats/snapfile_chunks.c hosts/formats/snapchunk.c hosts/formats/snapprocs.c hosts/formats/snapauth.c hosts/formats/ctlsock.c \
                        $(COMMON_FILEIO_SRCS) $(COMMON_CLOCK_SRCS)
# The uplink between caprun and caphostd, and the one encoding of a TCP connection's state
# (FROZEN's and HOLD's records, the holder's seed).
FORMAT_TCPCONN_SRCS  := hosts/formats/tcpconn.c
FORMAT_UPLINK_SRCS   := hosts/formats/uplink.c $(FORMAT_TCPCONN_SRCS)
# Live migration: the transfer stream and the control records.  Its AES-256-GCM is
# libgcrypt's, from the static archives (hosts/formats/aesgcm.h says why; they are
# position-independent, so a PIE or a static-pie program links them alike).
FORMAT_MIG_SRCS      := hosts/formats/migstream.c hosts/formats/migstream_procs.c hosts/formats/migstream_fd.c hosts/formats/aesgcm.c hosts/formats/migctl.c \
                        $(COMMON_CLOCK_SRCS) \
                        $(COMMON_FILEIO_SRCS)
CRYPTO_LIBS          := -l:libgcrypt.a -l:libgpg-error.a

# Unit tests (tests/unit/hosts/formats/, ASan + UBSan via tests/build.mk).
UNIT_SRCS_test_host_image     := $(FORMAT_IMAGE_SRCS) $(COMMON_FILEIO_SRCS) hosts/caprun/stackbuild.c \
                                 capsule-abi/cap_image.c
UNIT_LIBS_test_host_image     := -lsodium
UNIT_SRCS_test_host_snapshot  := $(FORMAT_SNAPSHOT_SRCS) capsule-abi/cap_snapshot.c capsule-abi/cap_image.c \
                                 tests/unit/hosts/formats/snapfixture.c
UNIT_LIBS_test_host_snapshot  := -lsodium
UNIT_SRCS_test_host_snapchunk := $(UNIT_SRCS_test_host_snapshot)
UNIT_LIBS_test_host_snapchunk := -lsodium
UNIT_SRCS_test_host_snapprocs := $(FORMAT_SNAPSHOT_SRCS) capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
UNIT_LIBS_test_host_snapprocs := -lsodium
UNIT_SRCS_test_host_snapauth  := hosts/formats/snapauth.c hosts/formats/ctlsock.c $(COMMON_FILEIO_SRCS) \
                                 $(COMMON_CLOCK_SRCS)
UNIT_LIBS_test_host_snapauth  := -lsodium
UNIT_SRCS_test_host_execreq   := hosts/formats/execreq.c
FUZZ_SRCS_fuzz_execreq        := hosts/formats/execreq.c
UNIT_SRCS_test_host_dirproto  := $(FORMAT_DIR_SRCS)
UNIT_LIBS_test_host_dirproto  := -lsodium
UNIT_SRCS_test_host_hostd_msg := hosts/formats/hostd_msg.c $(FORMAT_UPLINK_SRCS)
UNIT_SRCS_test_host_wire      := hosts/formats/wire.c $(COMMON_IPV4_SRCS)
UNIT_SRCS_test_host_capture   := hosts/formats/capture.c $(COMMON_IPV4_SRCS)
UNIT_LIBS_test_host_wire      := -lsodium
UNIT_SRCS_test_host_migstream := $(FORMAT_MIG_SRCS) hosts/formats/dirproto.c \
                                 capsule-abi/cap_snapshot.c capsule-abi/cap_image.c \
                                 tests/unit/hosts/formats/migfixture.c
UNIT_LIBS_test_host_migstream := -lsodium $(CRYPTO_LIBS) -lpthread
UNIT_SRCS_test_host_migprecopy := $(FORMAT_MIG_SRCS) capsule-abi/cap_snapshot.c capsule-abi/cap_image.c \
                                  tests/unit/hosts/formats/migfixture.c
UNIT_LIBS_test_host_migprecopy := -lsodium $(CRYPTO_LIBS)
UNIT_SRCS_test_host_aesgcm    := hosts/formats/aesgcm.c
UNIT_LIBS_test_host_aesgcm    := $(CRYPTO_LIBS)
UNIT_SRCS_test_host_migctl    := hosts/formats/migctl.c $(COMMON_CLOCK_SRCS)
UNIT_LIBS_test_host_migctl    := -lsodium

# Fuzz targets (tests/fuzz/, tests/build.mk): every decoder of something another process wrote.
FUZZ_SRCS_fuzz_image     := $(FORMAT_IMAGE_SRCS) $(COMMON_FILEIO_SRCS) capsule-abi/cap_image.c
FUZZ_LIBS_fuzz_image     := -lsodium
FUZZ_SRCS_fuzz_snapshot  := $(FORMAT_SNAPSHOT_SRCS) hosts/capctl/capctl_report.c \
                            capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
FUZZ_LIBS_fuzz_snapshot  := -lsodium
FUZZ_SRCS_fuzz_dirproto  := $(FORMAT_DIR_SRCS)
FUZZ_LIBS_fuzz_dirproto  := -lsodium
FUZZ_SRCS_fuzz_hostd_msg := hosts/formats/hostd_msg.c $(FORMAT_UPLINK_SRCS)
FUZZ_SRCS_fuzz_wire      := hosts/formats/wire.c $(COMMON_IPV4_SRCS)
FUZZ_SRCS_fuzz_capture   := hosts/formats/capture.c $(COMMON_IPV4_SRCS)
FUZZ_LIBS_fuzz_wire      := -lsodium
FUZZ_SRCS_fuzz_migstream := $(FORMAT_MIG_SRCS) capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
FUZZ_LIBS_fuzz_migstream := -lsodium $(CRYPTO_LIBS)
FUZZ_SRCS_fuzz_migctl    := hosts/formats/migctl.c $(COMMON_CLOCK_SRCS)
FUZZ_LIBS_fuzz_migctl    := -lsodium
