/* start.c: the capsule's start-up (__wrap_main, before the app's main) and its exit path. */
#include <string.h>
#include "runtime/rt_host.h"
#include "runtime/rt_etc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_ident.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"

int __real_main(int argc, char **argv, char **envp);

void rt_console_write(int fd, const char *s)
{
	rt_host_write(fd == 1 ? CAP_FD_CONSOLE_OUT : CAP_FD_CONSOLE_ERR, s, strlen(s));
}

_Noreturn void rt_exit_capsule(int code)
{
	struct cap_control *c = RT_CONTROL;
	rt_proc_exiting();
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
	rt_fd_set_capacity((int)c->max_fds);   /* kept in capsule memory: a resume does not change it */
	rt_fd_init();
	rt_exec_adopt();       /* after an execve: who we are, descriptors, children, signals */
	rt_identsys_init();    /* caprun --user, and --dns for /etc/resolv.conf */
	rt_etcfile_init();
	rt_waitq_init(&rt_io_waitq);
	/* The network stack, if one was linked in (it registered itself before main). */
	if (rt_net() && rt_net()->start() < 0) {
		rt_console_write(2, "capsule: network start-up failed\n");
		rt_exit_capsule(127);
	}
	if (c->workdir[0]) {
		c->workdir[sizeof c->workdir - 1] = 0;
		rt_path_set_start_dir(c->workdir);   /* caprun -w, checked by the host */
	}
	return __real_main(argc, argv, envp);
}
