# hyperspool build: plain GNU make + pkg-config.
#   make              build everything into build/bin (SAN=1: build-san/bin):
#                     hyperspool, queued, exportd, convertwatch, importd, apid
#   make check        install missing Debian packages, build, run all tests
#   make check SAN=1  the same under ASan+UBSan
#   make install DESTDIR=... PREFIX=/usr   (make uninstall: the same, removed)
#   make deb          the Debian package, into ../ (debian/, dpkg-buildpackage)
#   make demo         the README's first command
#   make fuzz         run every libFuzzer harness for FUZZ_TIME s (fuzz/README.md)
#   make bench        every benchmark, full size (bench/README.md; ~25 min)

PREFIX    ?= /usr/local
BINDIR     = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/hyperspool
SYSCONFDIR ?= /etc
DOCDIR     = $(PREFIX)/share/doc/hyperspool
DATADIR    = $(PREFIX)/share/hyperspool
MANDIR     = $(PREFIX)/share/man
UNITDIR    = $(PREFIX)/lib/systemd/system
COMPLDIR   = $(PREFIX)/share/bash-completion/completions
# Where the units let the daemons write (the default instance; instance
# NAME gets SPOOLDIR-NAME and STATEDIR-NAME).
SPOOLDIR   = /var/spool/hyperspool
STATEDIR   = /var/lib/hyperspool

ifeq ($(SAN),1)
B       := build-san
# clang unless CC is given: gcc links ASan and UBSan as two runtimes, and
# UBSan's reports then ignore log_path (its report-file setter is libasan's,
# by symbol interposition) and land on stderr, where tests/san/env.bash
# cannot find them; clang's single runtime writes every report to the file.
ifeq ($(origin CC),default)
CC      := clang
endif
# DWARF 4: the .deb's dh_dwz (dwz 0.15) cannot read clang's default DWARF 5.
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
           -gdwarf-4
OPT      = -O1
else
B       := build
SANFLAGS =
OPT      = -O2
endif

PKGS    = libcjson libconfig libxml-2.0
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

# The source layer (source/): what reads a VM where it is (the providers
# behind export.h's table, OVA/OVF/VMX, disk headers, HTTP, vSphere). It
# stands on common/ only; exportd and the CLI both stand on it.
SOURCE_SRC = $(wildcard source/*.c)
SOURCE_OBJ = $(SOURCE_SRC:%.c=$(B)/obj/%.o)
SOURCE_LIB = $(B)/lib/libhssource.a
SOURCE_LIBS = $(shell pkg-config --libs libcurl libssl libcrypto zlib libzstd lzo2)

DAEMONS = queued exportd convertwatch importd hookd apid
CLI_SRC = $(wildcard cli/*.c)
PROGS   = $(DAEMONS:%=$(B)/bin/%) $(B)/bin/hyperspool

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_PROG = $(B)/tests/stagetest $(B)/tests/hs-vcsim

all: $(PROGS) units man

# Units and man pages carry the installation paths. $(B)/paths holds the
# paths they (and the CLI, which finds the daemons in LIBEXECDIR) were made
# with; it changes, and they are remade, when PREFIX or SYSCONFDIR does.
PATHS = $(BINDIR) $(LIBEXECDIR) $(SYSCONFDIR) $(SPOOLDIR) $(STATEDIR) $(DATADIR)
$(B)/paths: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PATHS)' | cmp -s - $@ 2>/dev/null || echo '$(PATHS)' >$@
FORCE:

SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@SPOOLDIR@|$(SPOOLDIR)|g' \
	-e 's|@STATEDIR@|$(STATEDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'

# systemd/NAME@.{service,timer,target}.in are the templated units (instance %i:
# SYSCONFDIR/hyperspool/%i.conf, SPOOLDIR-%i); the plain units of the
# default instance (hyperspool.conf, SPOOLDIR) are derived from them.
UNIT_IN      = $(wildcard systemd/*.in)
UNIT_TMPL    = $(UNIT_IN:systemd/%.in=$(B)/systemd/%)
UNIT_PLAIN   = $(subst @,,$(UNIT_TMPL))
PLAIN_UNIT   = -e 's|@%i||g' -e 's|-%i||g' -e 's|%i\.conf|hyperspool.conf|g' \
	-e 's|, instance %i||'

$(B)/systemd/%: systemd/%.in $(B)/paths
	@mkdir -p $(dir $@)
	$(SUBST) $< >$@

$(B)/systemd/hyperspool-%.service: systemd/hyperspool-%@.service.in $(B)/paths
	@mkdir -p $(dir $@)
	$(SUBST) $(PLAIN_UNIT) $< >$@

$(B)/systemd/hyperspool-%.timer: systemd/hyperspool-%@.timer.in $(B)/paths
	@mkdir -p $(dir $@)
	$(SUBST) $(PLAIN_UNIT) $< >$@

$(B)/systemd/hyperspool.target: systemd/hyperspool@.target.in $(B)/paths
	@mkdir -p $(dir $@)
	$(SUBST) $(PLAIN_UNIT) $< >$@

units: $(UNIT_TMPL) $(UNIT_PLAIN)

# Man pages: roff sources in man/, paths filled in.
MAN_IN  = $(wildcard man/*.in)
MAN_OUT = $(MAN_IN:man/%.in=$(B)/man/%)

$(B)/man/%: man/%.in $(B)/paths
	@mkdir -p $(dir $@)
	$(SUBST) $< >$@

man: $(MAN_OUT)

$(B)/obj/%.o: %.c $(wildcard common/*.h) $(wildcard source/*.h) $(wildcard importd/*.h) \
		$(wildcard convertwatch/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/source/%.o: CFLAGS += -Isource $(shell pkg-config --cflags libcurl)
$(B)/obj/exportd/%.o: CFLAGS += -Isource
$(B)/obj/cli/%.o: CFLAGS += -Isource -DHS_LIBEXECDIR='"$(LIBEXECDIR)"'
$(B)/obj/cli/%.o: $(B)/paths
$(B)/obj/cli/policycmd.o: CFLAGS += $(shell pkg-config --cflags libvirt)

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(SOURCE_LIB): $(SOURCE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# hookd: webhooks (libcurl, HMAC from libcrypto)
$(B)/obj/hookd/%.o: CFLAGS += $(shell pkg-config --cflags libcurl)
$(B)/bin/hookd: $(B)/obj/hookd/hookd.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl libcrypto)

$(B)/bin/queued: $(B)/obj/queued/queued.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# exportd: the stage (exportd.c) on the source layer.
$(B)/bin/exportd: $(B)/obj/exportd/exportd.o $(SOURCE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SOURCE_LIBS)

IMPORTD_SRC = $(wildcard importd/*.c)
$(B)/obj/importd/%.o: CFLAGS += $(shell pkg-config --cflags libvirt)

$(B)/bin/importd: $(IMPORTD_SRC:%.c=$(B)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libvirt)

# convertwatch: qemu-img, and guest conversion on libguestfs (guest*.c, v2v.c);
# the source layer's digest.c for the manifest's digests of OVA members
# read in place
CONVERTWATCH_SRC = $(wildcard convertwatch/*.c)
$(B)/obj/convertwatch/%.o: CFLAGS += -Iconvertwatch -Isource $(shell pkg-config --cflags libguestfs)

$(B)/bin/convertwatch: $(CONVERTWATCH_SRC:%.c=$(B)/obj/%.o) $(SOURCE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libguestfs libcrypto)

# apid: the HTTP API (libmicrohttpd, its TLS), YAML submits (libyaml),
# the dashboard's files from DATADIR/web (api.web_root),
# token hashes and the WebSocket handshake (libcrypto); it finds the
# hyperspool command beside itself, else in BINDIR.
APID_SRC = $(wildcard apid/*.c)
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
$(B)/obj/apid/%.o: CFLAGS += -Iapid $(shell pkg-config --cflags libmicrohttpd yaml-0.1) \
	-DHS_BINDIR='"$(BINDIR)"' -DHS_DATADIR='"$(DATADIR)"' -DHS_VERSION='"$(VERSION)"'
$(B)/obj/apid/%.o: $(B)/paths $(wildcard apid/*.h)

$(B)/bin/apid: $(APID_SRC:%.c=$(B)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lpthread \
		$(shell pkg-config --libs libmicrohttpd yaml-0.1 libcrypto)

# The CLI runs the source layer's providers for `inspect` and lists
# vCenter's VMs (`vms`) with it; `top` draws with curses; `policy prune`
# undefines domains with libvirt.
$(B)/bin/hyperspool: $(CLI_SRC:%.c=$(B)/obj/%.o) $(SOURCE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SOURCE_LIBS) \
	    $(shell pkg-config --libs ncurses) $(shell pkg-config --libs libvirt)

# Unit tests of the source layer's parsers link their object; objects go
# before the library in the link line.
$(B)/tests/test_ovf: $(B)/obj/source/ovf.o
$(B)/tests/test_vmx: $(B)/obj/source/vmx.o
$(B)/tests/test_pvecfg: $(B)/obj/source/pvecfg.o
$(B)/tests/test_hvcfg: $(B)/obj/source/hvcfg.o
$(B)/tests/test_guestconf: $(B)/obj/convertwatch/guestconf.o
$(B)/tests/test_guestconf: CFLAGS += -Iconvertwatch
$(B)/tests/test_virt: $(B)/obj/importd/virt.o
$(B)/tests/test_virt: CFLAGS += -Iimportd $(shell pkg-config --cflags libvirt)
$(B)/tests/test_virt: LDLIBS += $(shell pkg-config --libs libvirt)

# The reader tests share their corpus helpers and reader checks
# (tests/unit/corpus.c, parsecheck.c),
$(B)/tests/test_ovf $(B)/tests/test_vmx: $(B)/obj/tests/unit/corpus.o \
		$(B)/obj/tests/unit/parsecheck.o
# and these their temp directory (tests/unit/tmpdir.c).
$(B)/tests/test_log $(B)/tests/test_spool $(B)/tests/test_watch: \
		$(B)/obj/tests/unit/tmpdir.o

$(B)/tests/test_%: tests/unit/test_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isource $(shell pkg-config --cflags cmocka) $(LDFLAGS) \
		-o $@ $(filter-out $(LIB),$^) $(LIB) \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

# test_fetch runs the source layer's fetch.c against tests/fetch/faultserv (a fake
# flaky HTTP server, found next to the test binary) and nginx.
$(B)/tests/test_fetch: tests/unit/test_fetch.c $(B)/obj/source/fetch.o $(B)/obj/source/tlspin.o $(LIB) | $(B)/tests/faultserv
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isource $(shell pkg-config --cflags libcurl cmocka) $(LDFLAGS) -o $@ $^ \
		$(LDLIBS) $(shell pkg-config --libs libcurl libssl libcrypto cmocka)

$(B)/tests/faultserv: tests/fetch/faultserv.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The vSphere simulator of tests/bats/vsphere.bats: Go, built offline from
# Debian's govmomi (tests/vcsim/build).
$(B)/tests/hs-vcsim: tests/vcsim/main.go tests/vcsim/build
	@mkdir -p $(dir $@)
	tests/vcsim/build $(CURDIR)/$@

$(B)/tests/stagetest: $(B)/obj/tests/stagetest.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmarks' stopwatch (bench/probe.c); with the tests so that
# tests/bats/bench.bats can run the quick variant.
$(B)/tests/benchprobe: $(B)/obj/bench/probe.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer harnesses (fuzz/fuzz_NAME.c): always clang with ASan+UBSan,
# objects of their own in build-fuzz/ (the code under test gets the
# fuzzer's coverage instrumentation, -fsanitize=fuzzer-no-link).
FZ          = build-fuzz
FUZZ_CC     = clang
FUZZ_TIME  ?= 60
# make check fuzzes each harness for less, to keep CI under 30 minutes with
# the guest suite; `make fuzz` (or make check CHECK_FUZZ_TIME=N) for more.
CHECK_FUZZ_TIME ?= 30
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
              -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
              -Wformat=2 -Wno-format-nonliteral $(FUZZ_SAN) \
              $(shell pkg-config --cflags $(PKGS) libcurl) -Icommon -Isource
FUZZ_LIBS   = $(LDLIBS) $(SOURCE_LIBS)
FUZZ_BIN    = $(patsubst fuzz/%.c,$(FZ)/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SOURCE = $(FZ)/lib/libhssource.a
FUZZ_COMMON = $(FZ)/lib/libhscommon.a

$(FZ)/obj/%.o: %.c $(wildcard common/*.h) $(wildcard source/*.h) \
		$(wildcard importd/*.h) $(wildcard fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_COMMON): $(COMMON_SRC:%.c=$(FZ)/obj/%.o)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(FUZZ_SOURCE): $(SOURCE_SRC:%.c=$(FZ)/obj/%.o)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(FZ)/fuzz_%: fuzz/fuzz_%.c $(FZ)/obj/fuzz/vmcheck.o $(FUZZ_SOURCE) $(FUZZ_COMMON)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ifuzz -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

# The archive harnesses share landing.c (the temp data/ directory, the checks).
$(FZ)/fuzz_ova $(FZ)/fuzz_vma: $(FZ)/obj/fuzz/landing.o

# The boot check's console reading needs importd's objects and libvirt.
FUZZ_IMPORTD = $(FZ)/obj/importd/boot.o $(FZ)/obj/importd/virt.o
$(FZ)/obj/importd/%.o: FUZZ_CFLAGS += $(shell pkg-config --cflags libvirt) -Iimportd
$(FZ)/fuzz_serial: fuzz/fuzz_serial.c $(FUZZ_IMPORTD) $(FUZZ_COMMON)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iimportd -fsanitize=fuzzer -o $@ $^ \
		$(FUZZ_LIBS) $(shell pkg-config --libs libvirt)

fuzzers: $(FUZZ_BIN)

fuzz: fuzzers
	HS_FUZZDIR=$(CURDIR)/$(FZ) FUZZ_TIME=$(FUZZ_TIME) tests/run-fuzz

deps:
	@contrib/install-deps
	@contrib/start-libvirt

check: deps
	$(MAKE) all tests fuzzers
	HS_BINDIR=$(CURDIR)/$(B)/bin HS_TESTDIR=$(CURDIR)/$(B)/tests SAN=$(SAN) \
		HS_FUZZDIR=$(CURDIR)/$(FZ) FUZZ_TIME=$(CHECK_FUZZ_TIME) \
		tests/run-tests $(UNIT_BIN)

tests: $(UNIT_BIN) $(TEST_PROG) $(B)/tests/benchprobe

bench: deps all tests
	HS_BINDIR=$(CURDIR)/$(B)/bin HS_TESTDIR=$(CURDIR)/$(B)/tests bench/run

demo: deps all
	HS_BINDIR=$(CURDIR)/$(B)/bin contrib/demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/hyperspool $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR) \
		$(DESTDIR)$(COMPLDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(B)/bin/hyperspool $(DESTDIR)$(BINDIR)/
	install -m 0755 $(DAEMONS:%=$(B)/bin/%) $(DESTDIR)$(LIBEXECDIR)/
	$(SUBST) contrib/hyperspool-setup >$(DESTDIR)$(LIBEXECDIR)/hyperspool-setup
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/hyperspool-setup
	install -m 0644 contrib/hyperspool.conf.example $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/hyperspool/hyperspool.conf || \
		install -m 0644 contrib/hyperspool.conf.example \
			$(DESTDIR)$(SYSCONFDIR)/hyperspool/hyperspool.conf
	install -m 0644 README.md spool-layout.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(UNIT_TMPL) $(UNIT_PLAIN) $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/convertwatch-guest.conf $(DESTDIR)$(DATADIR)/
	if [ -d web ]; then cp -R web $(DESTDIR)$(DATADIR)/ && \
		chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)/web; fi
	install -m 0644 contrib/bash-completion $(DESTDIR)$(COMPLDIR)/hyperspool
	for m in $(MAN_OUT); do \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/; done

# Everything install put there but the configuration (an operator's file).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hyperspool \
		$(DAEMONS:%=$(DESTDIR)$(LIBEXECDIR)/%) \
		$(DESTDIR)$(LIBEXECDIR)/hyperspool-setup \
		$(DESTDIR)$(DOCDIR)/hyperspool.conf.example \
		$(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/spool-layout.md \
		$(UNIT_TMPL:$(B)/systemd/%=$(DESTDIR)$(UNITDIR)/%) \
		$(UNIT_PLAIN:$(B)/systemd/%=$(DESTDIR)$(UNITDIR)/%) \
		$(DESTDIR)$(COMPLDIR)/hyperspool \
		$(DESTDIR)$(DATADIR)/convertwatch-guest.conf
	rm -rf $(DESTDIR)$(DATADIR)/web
	for m in $(MAN_IN:man/%.in=%); do \
		rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; done
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR) 2>/dev/null

# The Debian package (debian/), built from a copy of the tree so that
# dh's clean step cannot touch this one; the .deb lands in $(B)/deb/.
deb:
	rm -rf $(B)/deb && mkdir -p $(B)/deb/src
	git ls-files -z --cached --others --exclude-standard | \
		tar --null -T - -cf - | tar xf - -C $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b

clean:
	rm -rf build build-san $(FZ)

.PHONY: all check tests deps demo install uninstall deb units man clean fuzz fuzzers bench FORCE
.SECONDARY:
