/* synccall.c: musl's __synccall (run a function on every thread, for setuid & co.) for a capsule: once, on the caller. */

/*
 * musl changes ids with __synccall, which signals every other thread and
 * waits for each to run the function: Linux keeps ids per thread.  The
 * runtime keeps them per capsule (identsys.c) and runs a signal handler on
 * the thread that sends it, so musl's own __synccall would wait for ever.
 * Running the function once here is the whole job.  libcaprt.a is linked
 * whole and before libc.a, so this definition is the one musl's setuid,
 * setgid and setgroups call.
 */
void __synccall(void (*func)(void *), void *ctx);

void __synccall(void (*func)(void *), void *ctx)
{
	func(ctx);
}
