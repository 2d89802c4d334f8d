/* __set_thread_area.s: capsule replacement: arch_prctl(ARCH_SET_FS, p) goes through the runtime. */
.text
.global __set_thread_area
.hidden __set_thread_area
.type __set_thread_area,@function
__set_thread_area:
	mov %rdi,%rdx           /* a2 = thread pointer */
	mov $0x1002,%esi        /* a1 = ARCH_SET_FS */
	mov $158,%edi           /* n  = SYS_arch_prctl */
	jmp __capsule_syscall
