/* start.c: the capsule's start-up (__wrap_main, before the app's main) and its exit path. */
#include <string.h>
#include "lwip-port/lp_sock.h"
#include "runtime/rt_host.h"
#include "runtime/rt_internal.h"

int __real_main(int argc, char **argv, char **envp);

void rt_console_write(int fd, const char *s)
{
	rt_host_write(fd == 1 ? CAP_FD_CONSOLE_OUT : CAP_FD_CONSOLE_ERR, s, strlen(s));
}

_Noreturn void rt_exit_capsule(int code)
{
	struct cap_control *c = RT_CONTROL;
	c->exit_code = code;
	__atomic_store_n(&c->state, CAP_STATE_EXITED, __ATOMIC_RELEASE);
	rt_host_exit(code);
}

int __wrap_main(int argc, char **argv, char **envp)
{
	struct cap_control *c = RT_CONTROL;
	if (c->magic != CAP_CONTROL_MAGIC || c->abi_version != CAP_ABI_VERSION ||
	    c->size != sizeof(struct cap_control)) {
		rt_console_write(2, "capsule: control page has the wrong magic or ABI version\n");
		rt_host_exit(127);
	}
	c->state = CAP_STATE_BOOTING;
	rt_mem_init();
	rt_fd_init();
	rt_waitq_init(&rt_io_waitq);
	/*
	 * CAP_MSG_FREEZE/THAW arrive on the packet channel, among the packets;
	 * registered before lwIP starts so no control record is ever dropped.
	 */
	lp_set_channel_control(rt_freeze_control);
	int r = lp_init();
	if (r < 0) {
		rt_console_write(2, "capsule: network start-up (lp_init) failed\n");
		rt_exit_capsule(127);
	}
	return __real_main(argc, argv, envp);
}
