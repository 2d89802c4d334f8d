/* arch/sys_arch.h: lwIP's OS abstraction types, implemented on the runtime's green threads. */
#ifndef LP_ARCH_SYS_ARCH_H
#define LP_ARCH_SYS_ARCH_H

/* Objects live in capsule memory (malloc lands in the arena); handles are pointers. */
struct lp_sem;
struct lp_mutex;
struct lp_mbox;
struct lp_thread;

typedef struct lp_sem   *sys_sem_t;
typedef struct lp_mutex *sys_mutex_t;
typedef struct lp_mbox  *sys_mbox_t;
typedef struct lp_thread *sys_thread_t;

#define SYS_MBOX_NULL NULL
#define SYS_SEM_NULL  NULL

#define sys_sem_valid(s)            (*(s) != NULL)
#define sys_sem_set_invalid(s)      (*(s) = NULL)
#define sys_sem_valid_val(s)        ((s) != NULL)
#define sys_sem_set_invalid_val(s)  ((s) = NULL)
#define sys_mutex_valid(m)          (*(m) != NULL)
#define sys_mutex_set_invalid(m)    (*(m) = NULL)
#define sys_mbox_valid(b)           (*(b) != NULL)
#define sys_mbox_set_invalid(b)     (*(b) = NULL)
#define sys_mbox_valid_val(b)       ((b) != NULL)
#define sys_mbox_set_invalid_val(b) ((b) = NULL)

#endif
