/* vfork.s: capsule replacement: vfork goes through the runtime (which refuses it with ENOSYS). */
.global vfork
.type vfork,@function
vfork:
	sub $8,%rsp
	mov $58,%edi            /* SYS_vfork */
	call __capsule_syscall
	add $8,%rsp
	mov %rax,%rdi
	.hidden __syscall_ret
	jmp __syscall_ret
