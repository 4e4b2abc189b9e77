/*
 * daemon.h — the signal and systemd conventions narad and nara-adapter share:
 * TERM/INT stop the event loop (STOPPING=1), HUP reloads between
 * RELOADING=1 and READY=1, SIGPIPE is ignored, and the systemd watchdog is
 * fed at half its interval when the unit asks for one.
 */
#ifndef NARA_DAEMON_H
#define NARA_DAEMON_H

struct event_base;
struct daemon_signals;

/* Install the handlers on base. stop_text ends the log line "signal N: ..."
 * (borrowed, must outlive the handle); reload(arg) does the daemon's own
 * reload work and returns 0 when the new configuration was taken, -1 when
 * it was refused and the running one kept. NULL when libevent cannot make
 * the events. */
struct daemon_signals *daemon_signals_new(struct event_base *base,
    const char *stop_text, int (*reload)(void *arg), void *arg);

/* Run a reload now, wrapped in RELOADING=1 / READY=1 as SIGHUP does (for
 * reloads asked for through a control socket); returns reload's result. */
int daemon_reload(struct daemon_signals *ds);

/* Remove the handlers and free; *ds becomes NULL. Accepts NULL. */
void daemon_signals_free(struct daemon_signals **ds);

#endif
