/* switch.S: green-thread context switch: callee-saved registers, MXCSR and x87 control word. */
	.text
/* void rt_switch(uint64_t *save_rsp, uint64_t new_rsp) */
	.global rt_switch
	.hidden rt_switch
	.type rt_switch,@function
rt_switch:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8,%rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	mov %rsp,(%rdi)
	mov %rsi,%rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	add $8,%rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret
	.size rt_switch,.-rt_switch

/* First code of a new thread: r12 = fn, r13 = arg (placed by rt_thread_new). */
	.global rt_thread_entry
	.hidden rt_thread_entry
	.type rt_thread_entry,@function
rt_thread_entry:
	xor %ebp,%ebp
	call rt_sched_after_switch
	mov %r13,%rdi
	call *%r12
	call rt_thread_exit_current
	hlt
	.size rt_thread_entry,.-rt_thread_entry
	.section .note.GNU-stack,"",@progbits
