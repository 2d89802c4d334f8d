/* __unmapself.s: capsule replacement: a detached thread frees its own stack and exits, via the runtime. */
.text
.global __unmapself
.type   __unmapself,@function
__unmapself:
	jmp __capsule_unmapself   /* (base, size): never returns */
