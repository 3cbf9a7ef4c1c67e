# hyperspool build: plain GNU make + pkg-config.
#   make              build everything into build/bin (SAN=1: build-san/bin)
#   make check        install missing Debian packages, build, run all tests
#   make check SAN=1  the same under ASan+UBSan
#   make install DESTDIR=... PREFIX=/usr
#   make demo         the README's first command

PREFIX    ?= /usr/local
BINDIR     = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/hyperspool
SYSCONFDIR ?= /etc
DOCDIR     = $(PREFIX)/share/doc/hyperspool
UNITDIR    = $(PREFIX)/lib/systemd/system

ifeq ($(SAN),1)
B       := build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      = -O1
else
B       := build
SANFLAGS =
OPT      = -O2
endif

PKGS    = libcjson libconfig
CC     ?= cc
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wno-format-nonliteral -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
           $(SANFLAGS) $(shell pkg-config --cflags $(PKGS)) -Icommon
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
LDFLAGS += $(SANFLAGS)

COMMON_SRC = $(wildcard common/*.c)
COMMON_OBJ = $(COMMON_SRC:%.c=$(B)/obj/%.o)
LIB        = $(B)/lib/libhscommon.a

DAEMONS = queued
CLI_SRC = $(wildcard cli/*.c)
PROGS   = $(DAEMONS:%=$(B)/bin/%) $(B)/bin/hyperspool

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_PROG = $(B)/tests/stagetest

all: $(PROGS)

$(B)/obj/%.o: %.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/bin/queued: $(B)/obj/queued/queued.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/hyperspool: $(CLI_SRC:%.c=$(B)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/test_%: tests/unit/test_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $^ \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

$(B)/tests/stagetest: $(B)/obj/tests/stagetest.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@contrib/install-deps

check: deps
	$(MAKE) all tests
	HS_BINDIR=$(CURDIR)/$(B)/bin HS_TESTDIR=$(CURDIR)/$(B)/tests SAN=$(SAN) \
		tests/run-tests $(UNIT_BIN)

tests: $(UNIT_BIN) $(TEST_PROG)

demo: deps all
	HS_BINDIR=$(CURDIR)/$(B)/bin contrib/demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/hyperspool $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/bin/hyperspool $(DESTDIR)$(BINDIR)/
	install -m 0755 $(DAEMONS:%=$(B)/bin/%) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 contrib/hyperspool.conf.example $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/hyperspool/hyperspool.conf || \
		install -m 0644 contrib/hyperspool.conf.example \
			$(DESTDIR)$(SYSCONFDIR)/hyperspool/hyperspool.conf
	install -m 0644 README.md spool-layout.md $(DESTDIR)$(DOCDIR)/
	for u in systemd/*.service systemd/*.target; do \
		sed 's|@LIBEXECDIR@|$(LIBEXECDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
			> $(DESTDIR)$(UNITDIR)/$$(basename $$u); done

clean:
	rm -rf build build-san

.PHONY: all check tests deps demo install clean
.SECONDARY:
