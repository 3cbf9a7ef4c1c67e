/*
 * test_policy.c - backup policies (common/policy.c) without a spool.
 *
 * What `hyperspool policy` relies on: a policy file parses with its
 * defaults, and a mistake (unknown key, bad count, bad cron or zone,
 * missing filter or credential) is refused with a message naming it; the
 * filter takes a VM by name glob and, when given, path glob; a VM's job is
 * named VM-YYYYMMDDTHHMMSSZ with every character a job name may not hold
 * replaced, its source set by the policy (type, credential, server and the
 * provider's key for the VM) over the template, its origin {policy, vm,
 * tick}; a VM lacking the field its source needs makes no job.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "policy.h"
#include "util.h"

#define T0 1796612400	/* 2026-12-07T03:00:00Z */

static void
parse_ok(const char *text, struct policy *p)
{
	char err[512] = "";

	if (policy_parse("nightly", text, strlen(text), p, err, sizeof(err)) != 0)
		fail_msg("refused: %s: %s", text, err);
}

static void
parse_bad(const char *text, const char *want)
{
	struct policy p;
	char err[512] = "";

	if (policy_parse("nightly", text, strlen(text), &p, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("%s: said '%s', not '%s'", text, err, want);
}

static void
test_parse(void **state)
{
	struct policy p;

	(void)state;
	parse_ok("{\"provider\":\"vsphere\",\"credential\":\"lab\","
	    "\"vms\":[\"web*\"]}", &p);
	assert_true(p.enabled);
	assert_null(p.server);
	assert_null(p.expr);
	assert_null(p.paths);
	assert_int_equal(p.keep_last, 0);
	assert_int_equal(p.keep_days, 0);
	policy_free(&p);
	parse_ok("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"server\":"
	    "\"vc:443\",\"vms\":[\"a\",\"b\"],\"paths\":[\"/DC0/*\"],\"cron\":"
	    "\"0 2 * * *\",\"tz\":\"Europe/Berlin\",\"enabled\":false,\"job\":"
	    "{\"convert\":{\"format\":\"raw\"}},\"keep_last\":7,\"keep_days\":30}",
	    &p);
	assert_false(p.enabled);
	assert_string_equal(p.expr, "0 2 * * *");
	assert_int_equal(p.keep_last, 7);
	assert_int_equal(p.keep_days, 30);
	policy_free(&p);

	parse_bad("[]", "not a JSON object");
	parse_bad("{\"credential\":\"lab\",\"vms\":[\"*\"]}", "'provider'");
	parse_bad("{\"provider\":\"vsphere\",\"vms\":[\"*\"]}", "'credential'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"../x\",\"vms\":"
	    "[\"*\"]}", "credential's name");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\"}", "'vms'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":[]}",
	    "'vms'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":[1]}",
	    "'vms'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"tags\":[\"x\"]}", "unknown key tags");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"keep_last\":0}", "'keep_last'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"keep_days\":1.5}", "'keep_days'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"cron\":\"61 * * * *\"}", "minute");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"tz\":\"Mars/Olympus\"}", "'tz'");
	parse_bad("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"*\"],\"job\":[]}", "'job'");
	assert_int_equal(policy_parse("../x", "{}", 2, &p, (char[64]){ 0 }, 64),
	    -1);
}

static void
test_match(void **state)
{
	struct policy p;
	cJSON *a = cJSON_Parse("{\"name\":\"web1\",\"path\":\"/DC0/vm/prod/web1\"}"),
	    *b = cJSON_Parse("{\"name\":\"web2\",\"path\":\"/DC0/vm/test/web2\"}"),
	    *c = cJSON_Parse("{\"name\":\"db1\",\"path\":\"/DC0/vm/prod/db1\"}"),
	    *nopath = cJSON_Parse("{\"name\":\"web3\"}");

	(void)state;
	parse_ok("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"web*\",\"db?\"]}", &p);
	assert_true(policy_matches(&p, a));
	assert_true(policy_matches(&p, b));
	assert_true(policy_matches(&p, c));
	assert_true(policy_matches(&p, nopath));
	policy_free(&p);
	parse_ok("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"vms\":"
	    "[\"web*\"],\"paths\":[\"/DC0/vm/prod/*\"]}", &p);
	assert_true(policy_matches(&p, a));
	assert_false(policy_matches(&p, b));	/* another folder */
	assert_false(policy_matches(&p, c));	/* another name */
	assert_false(policy_matches(&p, nopath));
	policy_free(&p);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	cJSON_Delete(nopath);
}

static void
test_names(void **state)
{
	char out[80];

	(void)state;
	policy_job_name("web1", T0, out, sizeof(out));
	assert_string_equal(out, "web1-20261207T030000Z");
	policy_job_name("my vm/$(id)", T0, out, sizeof(out));
	assert_string_equal(out, "my_vm___id_-20261207T030000Z");
	policy_job_name("-x", T0, out, sizeof(out));
	assert_string_equal(out, "_x-20261207T030000Z");
	policy_job_name("", T0, out, sizeof(out));
	assert_string_equal(out, "_-20261207T030000Z");
	policy_job_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    T0, out, sizeof(out));
	assert_true(strlen(out) <= 64);
	assert_true(util_name_valid(out));
}

static void
test_job(void **state)
{
	struct policy p;
	char err[256];
	cJSON *vm = cJSON_Parse("{\"name\":\"web 1\",\"path\":\"us-east-1\","
	    "\"instance_id\":\"i-0abc\"}"), *job;

	(void)state;
	parse_ok("{\"provider\":\"vsphere\",\"credential\":\"lab\",\"server\":"
	    "\"vc:443\",\"vms\":[\"*\"],\"job\":{\"name\":\"ignored\",\"origin\":"
	    "{\"schedule\":\"x\"},\"source\":{\"type\":\"file\",\"credential\":"
	    "\"other\",\"vm\":\"other\",\"snapshot\":\"s\"},\"convert\":"
	    "{\"format\":\"raw\"}}}", &p);
	job = policy_job(&p, vm, T0, false, err, sizeof(err));
	assert_non_null(job);
	assert_string_equal(job_get_str(job, "name"), "web_1-20261207T030000Z");
	assert_string_equal(job_get_str(job, "source.type"), "vsphere");
	assert_string_equal(job_get_str(job, "source.credential"), "lab");
	assert_string_equal(job_get_str(job, "source.server"), "vc:443");
	assert_string_equal(job_get_str(job, "source.vm"), "web 1");
	assert_string_equal(job_get_str(job, "source.snapshot"), "s");
	assert_string_equal(job_get_str(job, "convert.format"), "raw");
	assert_string_equal(job_get_str(job, "origin.policy"), "nightly");
	assert_string_equal(job_get_str(job, "origin.vm"), "web 1");
	assert_string_equal(job_get_str(job, "origin.tick"), "2026-12-07T03:00:00Z");
	assert_null(job_get(job, "origin.schedule"));
	cJSON_Delete(job);
	job = policy_job(&p, vm, T0, true, err, sizeof(err));
	assert_string_equal(job_get_str(job, "origin.tick"), "manual");
	cJSON_Delete(job);
	policy_free(&p);

	parse_ok("{\"provider\":\"aws\",\"credential\":\"lab\",\"vms\":[\"*\"]}", &p);
	job = policy_job(&p, vm, T0, false, err, sizeof(err));
	assert_string_equal(job_get_str(job, "source.instance_id"), "i-0abc");
	assert_string_equal(job_get_str(job, "source.region"), "us-east-1");
	assert_null(job_get(job, "source.vm"));
	cJSON_Delete(job);
	policy_free(&p);

	parse_ok("{\"provider\":\"proxmox\",\"credential\":\"lab\",\"vms\":[\"*\"]}",
	    &p);
	assert_null(policy_job(&p, vm, T0, false, err, sizeof(err)));
	assert_non_null(strstr(err, "'vmid'"));
	policy_free(&p);
	cJSON_Delete(vm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_job),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
