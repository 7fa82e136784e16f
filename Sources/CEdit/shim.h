#if __has_include(<histedit.h>)
#include <stdio.h>
#include <wchar.h>
#include <histedit.h>
#else
#error "libedit headers not found. Install them: apt-get install libedit-dev (or run scripts/setup)"
#endif

// el_set and history are variadic, which Swift cannot call; these fixed-signature wrappers can.
typedef char *(*finch_prompt_fn)(EditLine *);
typedef int (*finch_getc_fn)(EditLine *, wchar_t *);
typedef unsigned char (*finch_command_fn)(EditLine *, int);

static inline int finch_el_set_prompt(EditLine *e, finch_prompt_fn f) { return el_set(e, EL_PROMPT, f); }
static inline int finch_el_set_editor(EditLine *e, const char *mode) { return el_set(e, EL_EDITOR, mode); }
static inline int finch_el_set_signal(EditLine *e, int on) { return el_set(e, EL_SIGNAL, on); }
static inline int finch_el_set_history(EditLine *e, History *h) { return el_set(e, EL_HIST, history, h); }
static inline int finch_el_set_getc(EditLine *e, finch_getc_fn f) { return el_set(e, EL_GETCFN, f); }
static inline int finch_el_add_function(EditLine *e, const char *name, const char *help, finch_command_fn f) {
    return el_set(e, EL_ADDFN, name, help, f);
}
static inline int finch_el_bind(EditLine *e, const char *key, const char *fn) { return el_set(e, EL_BIND, key, fn, NULL); }

static inline int finch_history_set_size(History *h, int n) { HistEvent ev; return history(h, &ev, H_SETSIZE, n); }
static inline int finch_history_set_unique(History *h, int on) { HistEvent ev; return history(h, &ev, H_SETUNIQUE, on); }
static inline int finch_history_enter(History *h, const char *line) { HistEvent ev; return history(h, &ev, H_ENTER, line); }
static inline int finch_history_load(History *h, const char *path) { HistEvent ev; return history(h, &ev, H_LOAD, path); }
static inline int finch_history_save(History *h, const char *path) { HistEvent ev; return history(h, &ev, H_SAVE, path); }

// Return codes of editor functions (macros Swift does not import as constants reliably).
static const unsigned char FINCH_CC_REFRESH = CC_REFRESH;
static const unsigned char FINCH_CC_REDISPLAY = CC_REDISPLAY;
static const unsigned char FINCH_CC_ERROR = CC_ERROR;
