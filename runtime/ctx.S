/* ctx.S: save the CPU context at the freeze safe point (like setjmp) for a loader to resume; run on another stack. */
	.text
/*
 * int rt_ctx_save(struct cap_cpu_context *c, uint64_t fs_base)
 *
 * Returns 0 now.  A loader resuming a snapshot restores rbx rbp r12-r15,
 * FS base, MXCSR and the x87 control word from c, sets rsp = c->rsp and
 * jumps to c->rip with rax = 1: to the caller, this call returns 1.
 * Layout: capsule-abi/cap_abi.h struct cap_cpu_context.
 */
	.global rt_ctx_save
	.hidden rt_ctx_save
	.type rt_ctx_save,@function
rt_ctx_save:
	mov %rbx,0(%rdi)
	mov %rbp,8(%rdi)
	mov %r12,16(%rdi)
	mov %r13,24(%rdi)
	mov %r14,32(%rdi)
	mov %r15,40(%rdi)
	lea 8(%rsp),%rdx        /* the caller's rsp once this call has returned */
	mov %rdx,48(%rdi)
	mov (%rsp),%rdx         /* the return address */
	mov %rdx,56(%rdi)
	mov %rsi,64(%rdi)       /* TLS of the thread running the freeze */
	stmxcsr 72(%rdi)
	fnstcw 76(%rdi)
	movw $0,78(%rdi)
	xor %eax,%eax
	ret
	.size rt_ctx_save,.-rt_ctx_save

/*
 * void rt_run_on_stack(void (*fn)(void *), void *arg, void *stack_top)
 *
 * Call fn(arg) on another stack (stack_top 16-byte aligned), then come back.
 * The freeze runs on its own stack so the memory below the saved rsp is
 * known to be free: a resuming loader may use it as its scratch stack.
 */
	.global rt_run_on_stack
	.hidden rt_run_on_stack
	.type rt_run_on_stack,@function
rt_run_on_stack:
	push %rbp
	mov %rsp,%rbp           /* rbp is callee-saved: fn gives it back */
	mov %rdx,%rsp
	mov %rdi,%rax
	mov %rsi,%rdi
	call *%rax
	mov %rbp,%rsp
	pop %rbp
	ret
	.size rt_run_on_stack,.-rt_run_on_stack
	.section .note.GNU-stack,"",@progbits
