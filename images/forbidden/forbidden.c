/* forbidden.c: test image: executes a raw `syscall` instruction (getppid) that the sandbox must kill. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>

/* Not a plain POSIX app on purpose: it bypasses libc (and so the capsule
 * runtime) and asks the host kernel directly, which the seccomp filter forbids. */
static long raw_getppid(void)
{
	long ret;
	__asm__ volatile ("syscall" : "=a"(ret) : "a"(110L) : "rcx", "r11", "memory");
	return ret;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("forbidden: about to call getppid with a raw syscall instruction\n");
	long ppid = raw_getppid();
	printf("forbidden: still alive, getppid returned %ld: the sandbox let it through\n", ppid);
	return 2;   /* surviving is the failure this image exists to detect */
}
