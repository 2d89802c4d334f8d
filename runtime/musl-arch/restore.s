/* restore.s: capsule replacement for the signal trampoline: rt_sigreturn goes through the runtime. */
	nop
.global __restore_rt
.hidden __restore_rt
.type __restore_rt,@function
__restore_rt:
	mov $15,%edi            /* SYS_rt_sigreturn */
	call __capsule_syscall
	hlt
