# capsule-abi/build.mk: the ABI's tiny codecs, compiled for the host tools.
CAP_ABI_SRCS := capsule-abi/cap_image.c capsule-abi/cap_snapshot.c capsule-abi/cap_file.c
CAP_ABI_HOST_OBJS := $(CAP_ABI_SRCS:%.c=$(OBJ)/host/%.o)

$(OBJ)/host/capsule-abi/%.o: capsule-abi/%.c capsule-abi/*.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -c $< -o $@
