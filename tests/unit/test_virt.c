/*
 * test_virt.c - importd's reading of libvirt failures (importd/virt.c,
 * virt_cause_of): which ones only a setting can fix, and which setting.
 *
 * The messages are libvirt's and qemu's own words, as Debian 12's libvirt
 * 9.0 and qemu 7.2 print them (several seen on this project's test
 * hosts: a missing network, a directory qemu cannot search, nested KVM
 * that kills qemu at start; the others from libvirt's sources, for hosts
 * without KVM, which the bats suites cannot make). Error policy: none;
 * cmocka reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libvirt/virterror.h>

#include "virt.h"

static void
test_network(void **state)
{
	(void)state;
	assert_int_equal(virt_cause_of(VIR_ERR_NO_NETWORK, "Network not found: "
	    "no network with matching name 'nosuchnet'"), VIRT_CAUSE_NETWORK);
	assert_int_equal(virt_cause_of(VIR_ERR_OPERATION_INVALID, "Requested "
	    "operation is not valid: network 'default' is not active"),
	    VIRT_CAUSE_NETWORK);
}

static void
test_kvm(void **state)
{
	(void)state;
	assert_int_equal(virt_cause_of(VIR_ERR_INVALID_ARG, "invalid argument: "
	    "could not find capabilities for arch=x86_64 domaintype=kvm "),
	    VIRT_CAUSE_KVM);
	assert_int_equal(virt_cause_of(VIR_ERR_CONFIG_UNSUPPORTED, "unsupported "
	    "configuration: Domain requires KVM, but it is not available. "
	    "Check that virtualization is enabled in the host BIOS, and host "
	    "configuration is setup to load the kvm modules."), VIRT_CAUSE_KVM);
	assert_int_equal(virt_cause_of(VIR_ERR_CONFIG_UNSUPPORTED, "unsupported "
	    "configuration: Emulator '/usr/bin/qemu-system-x86_64' does not "
	    "support virt type 'kvm'"), VIRT_CAUSE_KVM);
	assert_int_equal(virt_cause_of(VIR_ERR_INTERNAL_ERROR, "internal error: "
	    "qemu unexpectedly closed the monitor: 2026-12-06T13:56:04.014955Z "
	    "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
	    "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: "
	    "kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' "
	    "failed."), VIRT_CAUSE_KVM);
}

static void
test_access(void **state)
{
	(void)state;
	assert_int_equal(virt_cause_of(VIR_ERR_INVALID_ARG, "Cannot access "
	    "storage file '/srv/img/ID/web01-disk0.qcow2' (as uid:999, "
	    "gid:995): Permission denied"), VIRT_CAUSE_ACCESS);
	assert_int_equal(virt_cause_of(VIR_ERR_INTERNAL_ERROR, "internal error: "
	    "process exited while connecting to monitor: qemu-system-x86_64: "
	    "-blockdev ...: Could not open '/srv/img/x.qcow2': Permission "
	    "denied"), VIRT_CAUSE_ACCESS);
}

/* What a retry may cure, or nobody knows: left to libvirt's code. */
static void
test_other(void **state)
{
	(void)state;
	assert_int_equal(virt_cause_of(VIR_ERR_OPERATION_FAILED, "operation "
	    "failed: domain 'kvm-web' already exists with uuid "
	    "0b7c5cb4-5c4f-4d4e-9a51-6b8f3e0f1a2b"), VIRT_CAUSE_OTHER);
	assert_int_equal(virt_cause_of(VIR_ERR_INTERNAL_ERROR, "internal error: "
	    "qemu unexpectedly closed the monitor: cannot set up guest memory "
	    "'pc.ram': Cannot allocate memory"), VIRT_CAUSE_OTHER);
	assert_int_equal(virt_cause_of(VIR_ERR_SYSTEM_ERROR, "Cannot recv data: "
	    "Connection reset by peer"), VIRT_CAUSE_OTHER);
	assert_int_equal(virt_cause_of(0, ""), VIRT_CAUSE_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_kvm),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
