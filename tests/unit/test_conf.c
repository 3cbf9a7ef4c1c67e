/*
 * test_conf.c - configuration loading and checking (common/conf.c).
 *
 * A configuration with known keys of the right types loads and every
 * accessor returns what it says; absent keys give the caller's default;
 * an unknown key (top-level or nested), a value of the wrong type, and a
 * syntax error are refused with a message naming the key or the line, so
 * a typo in hyperspool.conf is never silently ignored. A missing default
 * file means "all defaults", a missing file named explicitly is an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static const char valid_conf[] =
	"spool = \"/srv/spool\";\n"
	"source_roots = [ \"/srv/export\", \"/mnt/vmware\" ];\n"
	"heartbeat_interval = 2.5;\n"
	"tmp_max_age = 600;\n"
	"watch = { mode = \"poll\"; poll_interval = 1; };\n"
	"retry = { max_attempts = 7; delay = 0.25; };\n"
	"queued = { workers = 4; max_job_size = 65536; };\n"
	"defaults = {\n"
	"  convert = { format = \"raw\"; };\n"
	"  import = { uri = \"qemu:///session\"; start = true;\n"
	"             autostart = false; };\n"
	"};\n";

static int
teardown(void **state)
{
	(void)state;
	conf_free();
	return 0;
}

static void
expect_error(const char *text, const char *needle)
{
	char err[512] = "";

	if (conf_load_string(text, err, sizeof(err)) != -1)
		fail_msg("accepted:\n%s", text);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void
test_load_valid(void **state)
{
	char err[512] = "";

	(void)state;
	if (conf_load_string(valid_conf, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_non_null(conf_path());
}

static void
test_accessors(void **state)
{
	char err[512] = "";
	const char **roots;

	(void)state;
	assert_int_equal(conf_load_string(valid_conf, err, sizeof(err)), 0);
	assert_string_equal(conf_str("spool", "x"), "/srv/spool");
	assert_string_equal(conf_str("watch.mode", "auto"), "poll");
	assert_string_equal(conf_str("defaults.convert.format", "qcow2"), "raw");
	assert_string_equal(conf_str("defaults.import.uri", "x"),
	    "qemu:///session");
	assert_int_equal(conf_int("queued.workers", 1), 4);
	assert_int_equal(conf_int("queued.max_job_size", 1), 65536);
	assert_int_equal(conf_int("retry.max_attempts", 1), 7);
	/* A number key given as an integer and as a float. */
	assert_true(conf_num("tmp_max_age", 0) == 600.0);
	assert_true(conf_num("watch.poll_interval", 0) == 1.0);
	assert_true(conf_num("heartbeat_interval", 0) == 2.5);
	assert_true(conf_num("retry.delay", 0) == 0.25);
	assert_true(conf_bool("defaults.import.start", false));
	assert_false(conf_bool("defaults.import.autostart", true));

	assert_int_equal(conf_list("source_roots", &roots), 2);
	assert_string_equal(roots[0], "/srv/export");
	assert_string_equal(roots[1], "/mnt/vmware");
	assert_null(roots[2]);
	free(roots);
}

static void
test_list_as_libconfig_list(void **state)
{
	char err[512] = "";
	const char **roots;

	(void)state;
	assert_int_equal(conf_load_string("source_roots = ( \"/a\", \"/b\", "
	    "\"/c\" );", err, sizeof(err)), 0);
	assert_int_equal(conf_list("source_roots", &roots), 3);
	assert_string_equal(roots[2], "/c");
	assert_null(roots[3]);
	free(roots);
}

static void
test_defaults_when_absent(void **state)
{
	char err[512] = "";
	const char **roots;

	(void)state;
	assert_int_equal(conf_load_string("queued = { workers = 3; };", err,
	    sizeof(err)), 0);
	assert_string_equal(conf_str("spool", CONF_DEFAULT_SPOOL),
	    CONF_DEFAULT_SPOOL);
	assert_string_equal(conf_str("watch.mode", "auto"), "auto");
	assert_int_equal(conf_int("retry.max_attempts", 5), 5);
	assert_true(conf_num("retry.delay", 10.5) == 10.5);
	assert_true(conf_bool("defaults.import.start", true));
	assert_false(conf_bool("defaults.import.autostart", false));
	assert_int_equal(conf_list("source_roots", &roots), 0);
	assert_non_null(roots);
	assert_null(roots[0]);
	free(roots);
	/* The key that is there still counts. */
	assert_int_equal(conf_int("queued.workers", 1), 3);
}

static void
test_unknown_top_level_key(void **state)
{
	(void)state;
	expect_error("spool = \"/x\";\nspoool = \"/y\";\n", "'spoool'");
	expect_error("spool = \"/x\";\nspoool = \"/y\";\n", ":2:");
}

static void
test_unknown_nested_key(void **state)
{
	(void)state;
	expect_error("watch = {\n  mode = \"poll\";\n  foo = 1;\n};\n",
	    "'watch.foo'");
	expect_error("defaults = { import = { strat = true; }; };",
	    "'defaults.import.strat'");
}

static void
test_wrong_type_string(void **state)
{
	(void)state;
	expect_error("spool = 3;", "'spool' must be a string");
}

static void
test_wrong_type_list(void **state)
{
	(void)state;
	expect_error("source_roots = [1, 2];", "'source_roots' must be a list");
	expect_error("source_roots = \"/srv/export\";", "'source_roots'");
}

static void
test_wrong_type_int(void **state)
{
	(void)state;
	expect_error("queued = { workers = \"x\"; };", "'queued.workers' must be");
	expect_error("queued = { workers = 1.5; };", "'queued.workers'");
}

static void
test_wrong_type_bool(void **state)
{
	(void)state;
	expect_error("defaults = { import = { start = \"yes\"; }; };",
	    "'defaults.import.start'");
}

/* A map: names the operator chooses, each a string. */
static void
test_map(void **state)
{
	char err[256];
	const char **names;

	(void)state;
	expect_error("importd = { connections = { lab = 3; }; };",
	    "'importd.connections' must be a group of name = \"string\"");
	expect_error("importd = { connections = \"qemu:///system\"; };",
	    "'importd.connections' must be a group");
	assert_int_equal(conf_load_string("importd = { connections = { lab = "
	    "\"qemu:///system\"; b-2 = \"qemu:///session\"; }; };", err,
	    sizeof(err)), 0);
	assert_string_equal(conf_map_get("importd.connections", "b-2"),
	    "qemu:///session");
	assert_null(conf_map_get("importd.connections", "nope"));
	assert_null(conf_map_get("importd.nothing", "lab"));
	assert_int_equal(conf_map_names("importd.connections", &names), 2);
	assert_string_equal(names[0], "lab");
	free(names);
	conf_free();
}

static void
test_syntax_error(void **state)
{
	(void)state;
	expect_error("spool = \"/x\";\nwatch = { mode = ; };\n", ":2:");
	expect_error("spool = \"/x\";\nqueued = { workers = 2; };\n"
	    "retry = { delay = = 1; };\n", "(string):3:");
}

/* After a refused file nothing of it is used. */
static void
test_failed_load_keeps_nothing(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(conf_load_string("spool = \"/x\";\nbogus = 1;", err,
	    sizeof(err)), -1);
	assert_null(conf_path());
	assert_string_equal(conf_str("spool", "default"), "default");
}

static void
test_load_default_absent(void **state)
{
	char err[512] = "";

	(void)state;
	if (access(CONF_DEFAULT_PATH, F_OK) == 0 || errno != ENOENT) {
		print_message("skipped: %s exists here, so its absence cannot be "
		    "tested\n", CONF_DEFAULT_PATH);
		skip();
	}
	if (conf_load(NULL, err, sizeof(err)) != 0)
		fail_msg("no %s gave an error: %s", CONF_DEFAULT_PATH, err);
	assert_string_equal(conf_str("spool", CONF_DEFAULT_SPOOL),
	    CONF_DEFAULT_SPOOL);
}

static void
test_load_explicit_missing(void **state)
{
	char err[512] = "", path[64];

	(void)state;
	snprintf(path, sizeof(path), "/nonexistent-%ld/hyperspool.conf",
	    (long)getpid());
	assert_int_equal(conf_load(path, err, sizeof(err)), -1);
	if (strstr(err, path) == NULL)
		fail_msg("error \"%s\" does not name %s", err, path);
}

static void
test_load_file(void **state)
{
	char err[512] = "", path[] = "/tmp/hs-test-conf-XXXXXX";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, valid_conf, sizeof(valid_conf) - 1),
	    (ssize_t)(sizeof(valid_conf) - 1));
	assert_int_equal(write(fd, "bad_key = 1;\n", 13), 13);
	close(fd);
	/* The error names the file and the line of the bad key. */
	assert_int_equal(conf_load(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":13:"));
	assert_non_null(strstr(err, "'bad_key'"));

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, valid_conf, sizeof(valid_conf) - 1),
	    (ssize_t)(sizeof(valid_conf) - 1));
	close(fd);
	if (conf_load(path, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(conf_path(), path);
	assert_int_equal(conf_int("queued.workers", 1), 4);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, teardown)
		T(test_load_valid),
		T(test_accessors),
		T(test_list_as_libconfig_list),
		T(test_defaults_when_absent),
		T(test_unknown_top_level_key),
		T(test_unknown_nested_key),
		T(test_wrong_type_string),
		T(test_wrong_type_list),
		T(test_wrong_type_int),
		T(test_wrong_type_bool),
		T(test_map),
		T(test_syntax_error),
		T(test_failed_load_keeps_nothing),
		T(test_load_default_absent),
		T(test_load_explicit_missing),
		T(test_load_file),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
