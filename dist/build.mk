# dist/build.mk: man pages (scdoc, man/*.scd) and `make install` (PREFIX, DESTDIR): tools, the capsule sysroot, man pages, bash completion, systemd units and config files.
#
#   make install PREFIX=/usr/local DESTDIR=    (defaults)
#
# Layout under DESTDIR: PREFIX/bin (every tool; caploader must sit next to caprun, capctl
# next to capcc), PREFIX/lib/capsule/sysroot (capcc finds it from its own directory),
# PREFIX/share/man/man{1,8}, PREFIX/share/bash-completion/completions,
# SYSTEMDUNITDIR (capdird.service, caphostd.service: installed, not enabled) and
# SYSCONFDIR/capsule (capdird.conf, caphostd.conf; an existing one is kept).

PREFIX         ?= /usr/local
DESTDIR        ?=
SYSCONFDIR     ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

MAN_SRCS  := $(wildcard man/*.scd)
MAN_PAGES := $(patsubst man/%.scd,$(BUILD)/man/%,$(MAN_SRCS))

$(BUILD)/man/%: man/%.scd | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	scdoc < $< > $@.tmp && mv -f $@.tmp $@

ALL_TARGETS += $(MAN_PAGES)

INSTALL_TOOLS := caprun caploader capctl capcc capexec capdir capdird caphostd
DIST_UNITS    := capdird.service caphostd.service

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/capsule \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/capsule
	install -m 755 $(addprefix $(BIN)/,$(INSTALL_TOOLS)) $(DESTDIR)$(PREFIX)/bin/
	rm -rf $(DESTDIR)$(PREFIX)/lib/capsule/sysroot
	cp -R $(SYSROOT) $(DESTDIR)$(PREFIX)/lib/capsule/sysroot
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 dist/bash-completion/capctl dist/bash-completion/caprun \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	for u in $(DIST_UNITS); do \
		sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			dist/systemd/$$u.in > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	for c in capdird.conf caphostd.conf; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/capsule/$$c ] || \
			install -m 644 dist/etc/$$c $(DESTDIR)$(SYSCONFDIR)/capsule/$$c || exit 1; \
	done
	@echo "installed under $(DESTDIR)$(PREFIX); units in $(DESTDIR)$(SYSTEMDUNITDIR) (not enabled)"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(INSTALL_TOOLS))
	rm -rf $(DESTDIR)$(PREFIX)/lib/capsule
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(filter %.1,$(MAN_PAGES))))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man8/,$(notdir $(filter %.8,$(MAN_PAGES))))
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/capctl \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/caprun
	rm -f $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(DIST_UNITS))

.PHONY: install uninstall
