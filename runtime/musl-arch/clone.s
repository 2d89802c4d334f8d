/* clone.s: capsule replacement: __clone creates a green thread in the runtime instead of a kernel task. */
.text
.global __clone
.hidden __clone
.type   __clone,@function
__clone:
	/* same C signature: (func, stack, flags, arg, ptid, tls, ctid) */
	jmp __capsule_clone
