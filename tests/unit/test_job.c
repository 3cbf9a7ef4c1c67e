/*
 * test_job.c - job v1 parsing, validation, defaults and serialisation
 * (common/job.c), and the three input dialects (common/dialect.c).
 *
 * Validation runs with source_roots = { "/srv/export" } as a submission,
 * the way queued checks what a user dropped into incoming/. Every refusal
 * must name the field at fault, since that one line is all the submitter
 * sees in `hyperspool show`. Test JSON is written with ' for " to keep it
 * readable; q() turns it into real JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "dialect.h"
#include "job.h"
#include "jobid.h"
#include "util.h"

static const char *const roots[] = { "/srv/export", NULL };
static const struct job_policy submission = { roots, true };
static const struct job_policy stored = { roots, false };

#define MINIMAL \
	"{'name':'web01','source':{'type':'file','path':'/srv/export/web01.ova'}}"
#define SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* 'single-quoted' JSON to real JSON (malloc'd). */
static char *
q(const char *sq)
{
	char *s = xstrdup(sq);

	for (char *c = s; *c; c++)
		if (*c == '\'')
			*c = '"';
	return s;
}

static cJSON *
parse_q(const char *sq)
{
	char err[JOB_ERR_MAX] = "", *s = q(sq);
	cJSON *j = job_parse(s, strlen(s), err, sizeof(err));

	if (j == NULL)
		fail_msg("test JSON refused by job_parse: %s: %s", err, s);
	free(s);
	return j;
}

static void
expect_valid(const char *sq, const struct job_policy *pol)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = parse_q(sq);
	int r = job_validate(j, pol, err, sizeof(err));

	cJSON_Delete(j);
	if (r != 0)
		fail_msg("refused (%s): %s", err, sq);
}

static void
expect_invalid(const char *sq, const char *needle)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = parse_q(sq);
	int r = job_validate(j, &submission, err, sizeof(err));

	cJSON_Delete(j);
	if (r != -1)
		fail_msg("accepted: %s", sq);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle);
}

/* job_parse must refuse len bytes of buf with an error containing needle. */
static void
expect_unparsable(const char *buf, size_t len, const char *needle)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = job_parse(buf, len, err, sizeof(err));

	if (j != NULL) {
		cJSON_Delete(j);
		fail_msg("job_parse accepted %.60s", buf);
	}
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", err, needle);
}

/* -- validation: what passes ------------------------------------------- */

static void
test_minimal_valid(void **state)
{
	(void)state;
	expect_valid(MINIMAL, &submission);
	expect_valid("{'name':'web01','source':{'type':'http',"
	    "'url':'https://dl.example.com/web01.ova'}}", &submission);
}

static void
test_full_valid(void **state)
{
	(void)state;
	expect_valid("{'version':1,'name':'web01','source':{'type':'file',"
	    "'disks':[{'path':'/srv/export/web01/d0.vmdk','format':'vmdk',"
	    "'sha256':'" SHA256 "','boot_order':0},"
	    "{'path':'/srv/export/web01/d1.vmdk'}]},"
	    "'vm':{'cpus':2,'memory_mib':4096,'firmware':'uefi','os':'linux',"
	    "'nics':[{'mac':'00:50:56:aa:bb:cc','network':'VM Network',"
	    "'model':'virtio'}]},"
	    "'convert':{'format':'qcow2','compress':true,'compare':false,"
	    "'guest':'none'},"
	    "'import':{'uri':'qemu:///system','start':true,'autostart':false,"
	    "'expect_serial':'login:','boot_timeout':300,'network':'default',"
	    "'disk_bus':'virtio'}}", &submission);
}

/* -- validation: what is refused, naming the field --------------------- */

static void
test_name_missing(void **state)
{
	(void)state;
	expect_invalid("{'source':{'type':'file','path':'/srv/export/a'}}",
	    "name: missing");
}

static void
test_name_dotdot(void **state)
{
	(void)state;
	expect_invalid("{'name':'../x','source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "name: '../x'");
}

static void
test_name_space(void **state)
{
	(void)state;
	expect_invalid("{'name':'web 01','source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "name: 'web 01'");
}

static void
test_unknown_top_level(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','colour':'red','source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "colour: unknown field");
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','name':'b','source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "name: duplicate key");
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a',"
	    "'path':'/etc/shadow'}}", "source.path: duplicate key");
}

static void
test_source_type_missing(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'path':'/srv/export/a'}}",
	    "source.type: missing");
}

static void
test_source_type_unsupported(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'oci','vm':'vm-1'}}",
	    "source.type: 'oci'");
}

static void
test_path_and_disks(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a',"
	    "'disks':[{'path':'/srv/export/b'}]}}", "'path' and 'disks'");
	expect_invalid("{'name':'a','source':{'type':'file'}}",
	    "'path' and 'disks'");
}

static void
test_path_relative(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file',"
	    "'path':'srv/export/a'}}", "source.path: 'srv/export/a'");
}

static void
test_path_dotdot(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file',"
	    "'path':'/srv/export/../../etc/shadow'}}", "source.path: ");
	expect_invalid("{'name':'a','source':{'type':'file',"
	    "'path':'/srv/export/./a'}}", "source.path: ");
	expect_invalid("{'name':'a','source':{'type':'file',"
	    "'path':'/srv/export//a'}}", "source.path: ");
}

static void
test_path_outside_roots(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/etc/shadow'}}",
	    "source.path: '/etc/shadow' is outside source_roots");
	expect_invalid("{'name':'a','source':{'type':'file','disks':["
	    "{'path':'/srv/export/a'},{'path':'/etc/shadow'}]}}",
	    "source.disks[1].path: '/etc/shadow' is outside");
}

static void
test_path_prefix_trick(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file',"
	    "'path':'/srv/exportfoo/x'}}", "source.path: '/srv/exportfoo/x' is "
	    "outside source_roots");
}

static void
test_url_credentials(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'http',"
	    "'url':'https://user:pass@dl.example.com/a.ova'}}",
	    "source.url: credentials");
}

static void
test_url_scheme(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'http',"
	    "'url':'ftp://dl.example.com/a.ova'}}", "source.url: must start");
	expect_invalid("{'name':'a','source':{'type':'http',"
	    "'url':'file:///etc/shadow'}}", "source.url: must start");
}

static void
test_convert_format(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'convert':{'format':'vmdk'}}", "convert.format: 'vmdk'");
}

/* A disk archive (targz) is a downloaded object's format, not a file's. */
static void
test_source_format_targz(void **state)
{
	(void)state;
	expect_valid("{'name':'a','source':{'type':'s3','bucket':'vms',"
	    "'key':'exports/image','format':'targz'}}", &submission);
	expect_valid("{'name':'a','source':{'type':'http',"
	    "'url':'https://dl.example.com/image','format':'targz'}}", &submission);
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a',"
	    "'format':'targz'}}", "source.format: 'targz'");
}

static void
test_compress_raw(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'convert':{'format':'raw','compress':true}}", "convert.compress");
}

/* convert.guest: the four modes pass, anything else names the choices. */
static void
test_guest_modes(void **state)
{
	static const char *const ok[] = { "none", "fast", "virt-v2v", "auto" };
	char buf[256];

	(void)state;
	for (size_t i = 0; i < HS_ARRAY_LEN(ok); i++) {
		snprintf(buf, sizeof(buf), "{'name':'a','source':{'type':'file',"
		    "'path':'/srv/export/a'},'convert':{'guest':'%s',"
		    "'serial_console':true}}", ok[i]);
		expect_valid(buf, &submission);
	}
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'convert':{'guest':'v2v'}}", "convert.guest: 'v2v' is not one of: "
	    "none, fast, virt-v2v, auto");
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'convert':{'serial_console':'yes'}}", "convert.serial_console");
}

static void
test_expect_serial_without_start(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'import':{'start':false,'expect_serial':'login:'}}",
	    "import.expect_serial");
}

static void
test_mac_bad(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'vm':{'nics':[{'mac':'00:50:56:aa:bb:zz'}]}}", "vm.nics[0].mac");
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'vm':{'nics':[{'mac':'00-50-56-aa-bb-cc'}]}}", "vm.nics[0].mac");
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'vm':{'nics':[{},{'mac':'0:50:56:aa:bb:cc'}]}}", "vm.nics[1].mac");
}

/*
 * 17 characters that sscanf("%2x:...") swallows but that are not a MAC
 * address: signs, blanks and "0x" prefixes inside the octets.
 */
static void
test_mac_lookalikes(void **state)
{
	static const char *const macs[] = { "+1:-2:03:04:05:06",
	    " 1: 2:03:04:05:06", "0x:50:56:aa:bb:cc" };
	char json[256], err[JOB_ERR_MAX], accepted[128] = "";

	(void)state;
	for (size_t i = 0; i < HS_ARRAY_LEN(macs); i++) {
		cJSON *j;
		int r;

		snprintf(json, sizeof(json), "{'name':'a','source':{'type':'file',"
		    "'path':'/srv/export/a'},'vm':{'nics':[{'mac':'%s'}]}}",
		    macs[i]);
		j = parse_q(json);
		r = job_validate(j, &submission, err, sizeof(err));
		cJSON_Delete(j);
		if (r == 0)
			snprintf(accepted + strlen(accepted), sizeof(accepted) -
			    strlen(accepted), " '%s'", macs[i]);
		else
			assert_non_null(strstr(err, "vm.nics[0].mac"));
	}
	if (accepted[0] != '\0')
		fail_msg("vm.nics[0].mac accepted:%s", accepted);
}

static void
test_password_anywhere(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'http',"
	    "'url':'https://h/a.ova','password':'hunter2'}}",
	    "source.password: secrets are not accepted");
	expect_invalid("{'password':'x','name':'a','source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "password: secrets");
	expect_invalid("{'name':'a','source':{'type':'file','path':'/srv/export/a'},"
	    "'vm':{'nics':[{'network':'n','Token':'t'}]}}",
	    "vm.nics[0].Token: secrets");
}

static void
test_reserved_in_submission(void **state)
{
	char json[256], id[JOBID_LEN + 1];

	(void)state;
	jobid_new(id);
	snprintf(json, sizeof(json), "{'id':'%s','name':'a','source':{'type':"
	    "'file','path':'/srv/export/a'}}", id);
	expect_invalid(json, "id: set by hyperspool");
	expect_invalid("{'name':'a','submitted':'2026-01-01T00:00:00Z','source':"
	    "{'type':'file','path':'/srv/export/a'}}", "submitted: set by");
	expect_invalid("{'name':'a','origin':{},'source':{'type':'file',"
	    "'path':'/srv/export/a'}}", "origin: set by");
	/* Once stored, the job must carry its ID. */
	expect_valid(json, &stored);
	{
		char err[JOB_ERR_MAX] = "";
		cJSON *j = parse_q(MINIMAL);

		assert_int_equal(job_validate(j, &stored, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "id: missing"));
		cJSON_Delete(j);
	}
}

/* -- parsing ------------------------------------------------------------ */

static void
test_parse_invalid_utf8(void **state)
{
	static const char bad[] = "{\"name\":\"\xc3\x28\"}";

	(void)state;
	expect_unparsable(bad, sizeof(bad) - 1, "UTF-8");
}

static void
test_parse_overlong(void **state)
{
	static const char bad[] = "{\"name\":\"..\xc0\xaf..\"}";

	(void)state;
	expect_unparsable(bad, sizeof(bad) - 1, "UTF-8");
}

static void
test_parse_nul(void **state)
{
	static const char bad[] = "{\"name\":\"a\0b\"}";
	static const char bad2[] = "{\"name\":\"ab\"}\0";

	(void)state;
	expect_unparsable(bad, sizeof(bad) - 1, "NUL");
	expect_unparsable(bad2, sizeof(bad2) - 1, "NUL");
}

/* "\u0000" would cut the decoded string short: refused; "\\u0000" is text. */
static void
test_parse_escaped_nul(void **state)
{
	static const char bad[] = "{\"source\":{\"path\":\"/s/a.raw\\u0000/../x\"}}";
	static const char key[] = "{\"na\\u0000me\":1}";
	static const char ok[] = "{\"name\":\"a\\\\u0000\"}";
	char err[JOB_ERR_MAX] = "";
	cJSON *j;

	(void)state;
	expect_unparsable(bad, sizeof(bad) - 1, "escaped NUL character (\\u0000) at byte 27");
	expect_unparsable(key, sizeof(key) - 1, "escaped NUL");
	j = job_parse(ok, sizeof(ok) - 1, err, sizeof(err));
	if (j == NULL)
		fail_msg("refused an escaped backslash before u0000: %s", err);
	assert_string_equal(job_get_str(j, "name"), "a\\u0000");
	cJSON_Delete(j);
}

static void
test_parse_not_object(void **state)
{
	(void)state;
	expect_unparsable("[{\"name\":\"a\"}]", 14, "not a JSON object");
	expect_unparsable("\"name\"", 6, "not a JSON object");
	expect_unparsable("", 0, "empty");
}

static void
test_parse_trailing_garbage(void **state)
{
	(void)state;
	expect_unparsable("{\"name\":\"a\"} x", 14, "not valid JSON");
	expect_unparsable("{}{}", 4, "not valid JSON");
	expect_unparsable("{\"name\":\"a\"", 11, "not valid JSON");
}

static void
test_parse_deep_nesting(void **state)
{
	size_t n = 100000;
	char *s = xmalloc(5 * n + 1);

	(void)state;
	memset(s, '[', n);
	s[n] = '\0';
	expect_unparsable(s, n, "not valid JSON");
	for (size_t i = 0; i < n; i++)
		memcpy(s + 5 * i, "{\"a\":", 5);
	s[5 * n] = '\0';
	expect_unparsable(s, 5 * n, "not valid JSON");
	free(s);
}

/* Only len bytes count, even when more text follows. */
static void
test_parse_honours_len(void **state)
{
	static const char text[] = "{\"name\":\"a\"} trailing text";
	char err[JOB_ERR_MAX];
	cJSON *j;

	(void)state;
	j = job_parse(text, 12, err, sizeof(err));
	if (j == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(job_get_str(j, "name"), "a");
	cJSON_Delete(j);
}

/*
 * job_parse(buf, len) with buf not NUL-terminated (job.c: "NUL-terminated
 * or not") must read only those len bytes. The buffer ends right at an
 * unmapped page, so a read of buf[len] faults; that runs in a child.
 */
static void
test_parse_unterminated_buffer(void **state)
{
	static const char text[] = "{\"name\":\"a\"}";
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long pg = sysconf(_SC_PAGESIZE);
		char err[JOB_ERR_MAX], *m, *buf;
		cJSON *j;

		/* Die of a fault here, not in cmocka's handler. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE) != 0)
			_exit(2);
		buf = m + pg - (sizeof(text) - 1);
		memcpy(buf, text, sizeof(text) - 1);
		j = job_parse(buf, sizeof(text) - 1, err, sizeof(err));
		_exit(j != NULL && job_get_str(j, "name") != NULL ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("job_parse read past the end of its buffer (signal %d)",
		    WTERMSIG(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("child exited %d (1: sanitizer report above, 3: refused)",
		    WEXITSTATUS(st));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
test_read_at_bounds(void **state)
{
	char dir[] = "/tmp/hs-test-job-XXXXXX", err[JOB_ERR_MAX], big[100];
	cJSON *j;
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	memset(big, ' ', 100);
	memcpy(big, "{}", 2);
	fd = openat(dfd, "big", O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big, 100), 100);
	close(fd);
	assert_int_equal(symlinkat("big", dfd, "link"), 0);

	j = job_read_at(dfd, "big", 100, err, sizeof(err));
	assert_non_null(j);
	cJSON_Delete(j);
	assert_null(job_read_at(dfd, "big", 99, err, sizeof(err)));
	assert_non_null(strstr(err, "larger than 99 bytes"));
	assert_null(job_read_at(dfd, "link", 100, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read job file"));
	close(dfd);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* -- defaults and serialisation ----------------------------------------- */

static void
test_defaults_fill(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = parse_q(MINIMAL);

	(void)state;
	conf_free();
	job_defaults(j);
	assert_int_equal(cJSON_GetNumberValue(job_get(j, "version")), 1);
	assert_string_equal(job_get_str(j, "convert.format"), "qcow2");
	assert_true(cJSON_IsFalse(job_get(j, "convert.compress")));
	assert_string_equal(job_get_str(j, "import.uri"), "qemu:///system");
	assert_true(cJSON_IsFalse(job_get(j, "import.start")));
	assert_true(cJSON_IsFalse(job_get(j, "import.autostart")));
	if (job_validate(j, &submission, err, sizeof(err)) != 0)
		fail_msg("a job with defaults filled is refused: %s", err);
	cJSON_Delete(j);
}

static void
test_defaults_expect_serial_starts(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = parse_q("{'name':'a','source':{'type':'file',"
	    "'path':'/srv/export/a'},'import':{'expect_serial':'login:'}}");

	(void)state;
	conf_free();
	job_defaults(j);
	assert_true(cJSON_IsTrue(job_get(j, "import.start")));
	if (job_validate(j, &submission, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	cJSON_Delete(j);
}

static void
test_defaults_keep_given(void **state)
{
	char err[512];
	cJSON *j = parse_q("{'version':1,'name':'a','source':{'type':'file',"
	    "'path':'/srv/export/a'},'convert':{'format':'raw'},"
	    "'import':{'uri':'qemu+ssh://kvm1/system','start':true,"
	    "'network':'br0','boot_timeout':60}}");

	(void)state;
	assert_int_equal(conf_load_string("importd = { connections = { kvm1 = "
	    "\"qemu+ssh://kvm1/system\"; }; };", err, sizeof(err)), 0);
	job_defaults(j);
	conf_free();
	assert_string_equal(job_get_str(j, "convert.format"), "raw");
	assert_string_equal(job_get_str(j, "import.uri"), "qemu+ssh://kvm1/system");
	assert_true(cJSON_IsTrue(job_get(j, "import.start")));
	assert_string_equal(job_get_str(j, "import.network"), "br0");
	assert_int_equal(cJSON_GetNumberValue(job_get(j, "import.boot_timeout")),
	    60);
	/* Nothing was added twice. */
	assert_int_equal(cJSON_GetArraySize(job_get(j, "import")), 6);
	assert_int_equal(cJSON_GetArraySize(job_get(j, "convert")), 4);
	cJSON_Delete(j);
}

static void
test_defaults_from_config(void **state)
{
	char err[512];
	cJSON *j = parse_q(MINIMAL);

	(void)state;
	assert_int_equal(conf_load_string("defaults = { convert = { format = "
	    "\"raw\"; }; import = { uri = \"qemu:///session\"; start = true; "
	    "network = \"br0\"; }; };", err, sizeof(err)), 0);
	job_defaults(j);
	conf_free();
	assert_string_equal(job_get_str(j, "convert.format"), "raw");
	assert_string_equal(job_get_str(j, "import.uri"), "qemu:///session");
	assert_true(cJSON_IsTrue(job_get(j, "import.start")));
	assert_string_equal(job_get_str(j, "import.network"), "br0");
	cJSON_Delete(j);
}

/*
 * import.uri / import.connection: a job picks one of the operator's
 * connections; a URI that is not one of them is refused, whatever its
 * transport (issue 21, finding 1: qemu+ext ran command= as the daemon).
 */
#define CONNS "importd = { connections = { lab = \"qemu:///system\"; " \
	"kvm1 = \"qemu+ssh://kvm1/system?keyfile=/etc/hyperspool/id\"; }; };"

static void
expect_import(const char *conf, const char *import, const char *needle,
    const char *want_uri)
{
	char err[JOB_ERR_MAX] = "", cerr[512], *js;
	cJSON *j;
	int r;

	if (conf != NULL)
		assert_int_equal(conf_load_string(conf, cerr, sizeof(cerr)), 0);
	else
		conf_free();
	js = xasprintf("{'name':'a','source':{'type':'file','path':"
	    "'/srv/export/a'},'import':%s}", import);
	j = parse_q(js);
	free(js);
	r = job_validate(j, &submission, err, sizeof(err));
	if (needle != NULL) {
		if (r != -1)
			fail_msg("accepted: %s", import);
		if (strstr(err, needle) == NULL)
			fail_msg("error \"%s\" does not name \"%s\"", err, needle);
	} else {
		if (r != 0)
			fail_msg("refused (%s): %s", err, import);
		job_defaults(j);
		assert_string_equal(job_get_str(j, "import.uri"), want_uri);
	}
	cJSON_Delete(j);
	conf_free();
}

static void
test_import_uri_not_configured(void **state)
{
	(void)state;
	expect_import(CONNS, "{'uri':'qemu+ext:///system?command=/tmp/x.sh'}",
	    "import.uri: a job may not choose a libvirt URI the operator has "
	    "not configured; name a connection with import.connection "
	    "(configured: lab, kvm1)", NULL);
	expect_import(NULL, "{'uri':'qemu+ext:///system?command=/tmp/x.sh'}",
	    "(configured: none)", NULL);
	expect_import(CONNS, "{'uri':'qemu+ssh://kvm1/system'}",
	    "import.uri: a job may not choose", NULL);
	expect_import(CONNS, "{'uri':'qemu+unix:///system?socket=/tmp/s'}",
	    "import.uri: a job may not choose", NULL);
	expect_import(CONNS, "{'uri':'qemu:///system?no_verify=1'}",
	    "import.uri: a job may not choose", NULL);
}

static void
test_import_connection(void **state)
{
	(void)state;
	expect_import(CONNS, "{'connection':'kvm1'}", NULL,
	    "qemu+ssh://kvm1/system?keyfile=/etc/hyperspool/id");
	/* The very string of a configured URI, or the default, is fine. */
	expect_import(CONNS, "{'uri':'qemu+ssh://kvm1/system?keyfile=/etc/"
	    "hyperspool/id'}", NULL,
	    "qemu+ssh://kvm1/system?keyfile=/etc/hyperspool/id");
	expect_import(NULL, "{'uri':'qemu:///system'}", NULL, "qemu:///system");
	expect_import("defaults = { import = { uri = \"qemu:///session\"; }; };",
	    "{}", NULL, "qemu:///session");
	expect_import(CONNS "defaults = { import = { connection = \"kvm1\"; "
	    "}; };", "{}", NULL, "qemu+ssh://kvm1/system?keyfile=/etc/"
	    "hyperspool/id");
	expect_import(CONNS, "{'connection':'nope'}", "import.connection: "
	    "'nope' is not a configured connection (configured: lab, kvm1)",
	    NULL);
	expect_import(CONNS, "{'connection':'lab','uri':'qemu+ext:///system'}",
	    "import.uri: does not match import.connection 'lab'", NULL);
	expect_import("defaults = { import = { connection = \"x\"; }; };", "{}",
	    "configuration: defaults.import.connection 'x' is not in "
	    "importd.connections", NULL);
}

/* A CA file is the operator's: never a job's (finding 6: a FIFO). */
static void
test_ca_file_refused(void **state)
{
	(void)state;
	expect_invalid("{'name':'a','source':{'type':'http','url':"
	    "'https://h/a.raw','ca_file':'/tmp/fifo'}}", "source.ca_file: a job "
	    "may not name a CA file; the operator sets one in the credential");
}

/* The guest mode's default comes from the configuration, else none. */
static void
test_defaults_guest(void **state)
{
	char err[512];
	cJSON *j = parse_q(MINIMAL), *k = parse_q(MINIMAL);

	(void)state;
	conf_free();
	job_defaults(j);
	assert_string_equal(job_get_str(j, "convert.guest"), "none");
	/* serial_console stays absent: absent means no */
	assert_null(job_get(j, "convert.serial_console"));
	assert_int_equal(conf_load_string("defaults = { convert = { guest = "
	    "\"fast\"; }; };", err, sizeof(err)), 0);
	job_defaults(k);
	conf_free();
	assert_string_equal(job_get_str(k, "convert.guest"), "fast");
	cJSON_Delete(j);
	cJSON_Delete(k);
}

static void
test_serialise_round_trip(void **state)
{
	char err[JOB_ERR_MAX] = "", id[JOBID_LEN + 1], *s;
	cJSON *j = parse_q("{'import':{'expect_serial':'login: \\u00e9'},"
	    "'name':'web01','vm':{'cpus':2,'memory_mib':4096,'nics':["
	    "{'mac':'00:50:56:aa:bb:cc'}]},'source':{'type':'file','disks':["
	    "{'path':'/srv/export/d0.vmdk','sha256':'" SHA256 "'}]},"
	    "'origin':{'dialect':'hyperspool-v1','uid':1000}}"), *back;
	size_t len;

	(void)state;
	conf_free();
	jobid_new(id);
	cJSON_AddStringToObject(j, "submitted", "2026-11-22T03:15:00Z");
	cJSON_AddStringToObject(j, "id", id);
	job_defaults(j);
	s = job_serialise(j, &len);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	assert_int_equal(s[len - 1], '\n');
	/* Top-level fields in schema order. */
	assert_true(strstr(s, "\"version\"") < strstr(s, "\"id\""));
	assert_true(strstr(s, "\"id\"") < strstr(s, "\"name\""));
	assert_true(strstr(s, "\"name\"") < strstr(s, "\"submitted\""));
	assert_true(strstr(s, "\"submitted\"") < strstr(s, "\"source\""));
	assert_true(strstr(s, "\"source\"") < strstr(s, "\"vm\""));
	assert_true(strstr(s, "\"import\"") < strstr(s, "\"origin\""));
	back = job_parse(s, len, err, sizeof(err));
	if (back == NULL)
		fail_msg("job_serialise output does not parse: %s", err);
	assert_true(cJSON_Compare(j, back, true));
	if (job_validate(back, &stored, err, sizeof(err)) != 0)
		fail_msg("refused after the round trip: %s", err);
	free(s);
	cJSON_Delete(j);
	cJSON_Delete(back);
}

/* -- dialects ------------------------------------------------------------ */

/* What queued does after normalising: ID, time, origin, defaults. */
static void
finish_like_queued(cJSON *job, enum dialect dia)
{
	char id[JOBID_LEN + 1];
	cJSON *o = cJSON_GetObjectItemCaseSensitive(job, "origin");

	jobid_new(id);
	cJSON_AddStringToObject(job, "id", id);
	cJSON_AddStringToObject(job, "submitted", "2026-11-22T03:15:00Z");
	if (o == NULL)
		o = cJSON_AddObjectToObject(job, "origin");
	cJSON_AddStringToObject(o, "dialect", dialect_name(dia));
	job_defaults(job);
}

static cJSON *
normalise_q(const char *sq, enum dialect want)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *in = parse_q(sq), *out;
	enum dialect d = (enum dialect)-1;

	out = dialect_normalise(in, &d, err, sizeof(err));
	cJSON_Delete(in);
	if (out == NULL)
		fail_msg("dialect_normalise refused: %s", err);
	assert_int_equal(d, want);
	return out;
}

static void
expect_not_normalised(cJSON *in, const char *needle)
{
	char err[JOB_ERR_MAX] = "";
	enum dialect d;
	cJSON *out = dialect_normalise(in, &d, err, sizeof(err));

	cJSON_Delete(in);
	if (out != NULL) {
		cJSON_Delete(out);
		fail_msg("normalised, should be refused naming %s", needle);
	}
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle);
}

/* A switch given as a string or a number is refused, never read as false. */
static void
test_dialect_switch_not_bool(void **state)
{
	(void)state;
	expect_not_normalised(parse_q("{'manifest_version':'1.0','source':"
	    "{'vm_name':'x'},'disks':[],'options':{'dry_run':'true'}}"),
	    "options.dry_run: must be true or false");
	expect_not_normalised(parse_q("{'manifest_version':'1.0','source':"
	    "{'vm_name':'x'},'disks':[],'pipeline':{'fix':{'enabled':1}}}"),
	    "pipeline.fix.enabled: must be true or false");
	expect_not_normalised(parse_q("{'vm_identifier':'/s/a.ova','provider':"
	    "'file','hyper2kvm_integration':{'enabled':'no'}}"),
	    "hyper2kvm_integration.enabled: must be true or false");
}

/*
 * A manifest's vm that is not an object is refused (an array's members
 * have no names: the unknown-key check read a NULL name; fuzz_job found it).
 */
static void
test_dialect_manifest_vm_not_object(void **state)
{
	(void)state;
	expect_not_normalised(parse_q("{'manifest_version':'1.0','source':"
	    "{'vm_name':'x'},'disks':[{'id':'disk-0','source_format':'vmdk',"
	    "'local_path':'/srv/x.vmdk'}],'vm':[{'cpu':2}]}"),
	    "vm: must be an object");
}

static void
test_dialect_v1_unchanged(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *in = parse_q("{'name':'web01','source':{'type':'http','url':"
	    "'https://h/a.ova'},'vm':{'cpus':1},'convert':{'format':'raw'}}");
	cJSON *out;
	enum dialect d = DIALECT_SUBMIT;

	(void)state;
	out = dialect_normalise(in, &d, err, sizeof(err));
	if (out == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(d, DIALECT_V1);
	assert_ptr_not_equal(out, in);
	assert_true(cJSON_Compare(in, out, true));
	assert_string_equal(dialect_name(d), "hyperspool-v1");
	cJSON_Delete(in);
	cJSON_Delete(out);
}

#define MANIFEST \
	"{'manifest_version':'1.0','source':{'provider':'vsphere'," \
	"'vm_name':'web 01','vm_id':'vm-42'},'vm':{'cpu':2,'mem_gb':4," \
	"'firmware':'uefi','os_hint':'linux'},'disks':[{'id':'disk-0'," \
	"'source_format':'vmdk','bytes':1073741824," \
	"'local_path':'/srv/export/web01/disk-0.vmdk'," \
	"'checksum':'sha256:" SHA256 "','boot_order_hint':0," \
	"'disk_type':'boot'}],'nics':[{'id':'nic0','mac':'00-50-56-AA-BB-CC'," \
	"'network':'VM Network'}],'output':{'format':'qcow2'," \
	"'directory':'/var/lib/x'}}"

static void
test_dialect_manifest_mapping(void **state)
{
	cJSON *j = normalise_q(MANIFEST, DIALECT_MANIFEST), *ign, *it;
	bool found = false;

	(void)state;
	assert_string_equal(job_get_str(j, "name"), "web_01");
	assert_string_equal(job_get_str(j, "source.type"), "file");
	assert_null(job_get(j, "source.path"));
	assert_int_equal(cJSON_GetArraySize(job_get(j, "source.disks")), 1);
	it = cJSON_GetArrayItem(job_get(j, "source.disks"), 0);
	assert_string_equal(job_get_str(it, "path"),
	    "/srv/export/web01/disk-0.vmdk");
	assert_string_equal(job_get_str(it, "format"), "vmdk");
	assert_string_equal(job_get_str(it, "sha256"), SHA256);
	assert_true(cJSON_IsNumber(job_get(it, "boot_order")));
	assert_int_equal(cJSON_GetNumberValue(job_get(it, "boot_order")), 0);
	assert_int_equal(cJSON_GetNumberValue(job_get(j, "vm.cpus")), 2);
	assert_int_equal(cJSON_GetNumberValue(job_get(j, "vm.memory_mib")), 4096);
	assert_string_equal(job_get_str(j, "vm.firmware"), "uefi");
	assert_string_equal(job_get_str(j, "vm.os"), "linux");
	it = cJSON_GetArrayItem(job_get(j, "vm.nics"), 0);
	assert_non_null(it);
	assert_string_equal(job_get_str(it, "mac"), "00:50:56:aa:bb:cc");
	assert_string_equal(job_get_str(it, "network"), "VM Network");
	assert_string_equal(job_get_str(j, "convert.format"), "qcow2");
	ign = (cJSON *)job_get(j, "origin.ignored");
	cJSON_ArrayForEach(it, ign)
		if (cJSON_IsString(it) && strcmp(it->valuestring,
		    "output.directory") == 0)
			found = true;
	assert_true(found);
	assert_string_equal(job_get_str(j, "origin.source.vm_id"), "vm-42");
	cJSON_Delete(j);
}

static void
test_dialect_manifest_validates(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = normalise_q(MANIFEST, DIALECT_MANIFEST);

	(void)state;
	conf_free();
	finish_like_queued(j, DIALECT_MANIFEST);
	if (job_validate(j, &stored, err, sizeof(err)) != 0)
		fail_msg("normalised manifest refused: %s", err);
	cJSON_Delete(j);
}

static cJSON *
manifest(void)
{
	return parse_q(MANIFEST);
}

static void
test_manifest_version(void **state)
{
	cJSON *m = manifest();

	(void)state;
	cJSON_ReplaceItemInObjectCaseSensitive(m, "manifest_version",
	    cJSON_CreateString("2.0"));
	expect_not_normalised(m, "manifest_version");
}

static void
test_manifest_fix_enabled(void **state)
{
	cJSON *m = manifest();

	(void)state;
	cJSON_AddItemToObject(m, "pipeline", parse_q("{'fix':{'enabled':true}}"));
	expect_not_normalised(m, "pipeline.fix");
}

static void
test_manifest_unknown_key(void **state)
{
	cJSON *m = manifest();

	(void)state;
	cJSON_AddStringToObject(m, "frobnicate", "yes");
	expect_not_normalised(m, "frobnicate: unknown field");
}

static void
test_manifest_disk_without_path(void **state)
{
	cJSON *m = manifest();

	(void)state;
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(m, "disks"), 0), "local_path");
	expect_not_normalised(m, "disks[0]: local_path");
}

static void
test_manifest_md5(void **state)
{
	cJSON *m = manifest();

	(void)state;
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(m, "disks"), 0), "checksum",
	    cJSON_CreateString("md5:d41d8cd98f00b204e9800998ecf8427e"));
	expect_not_normalised(m, "disks[0].checksum");
}

static void
test_dialect_submit_mapping(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = normalise_q("{'vm_identifier':'/srv/export/web01.ova',"
	    "'provider':'file','export_method':'ova','hyper2kvm_integration':"
	    "{'enabled':true,'daemon_mode':true}}", DIALECT_SUBMIT);

	(void)state;
	assert_string_equal(job_get_str(j, "name"), "web01");
	assert_string_equal(job_get_str(j, "source.type"), "file");
	assert_string_equal(job_get_str(j, "source.path"), "/srv/export/web01.ova");
	assert_string_equal(job_get_str(j, "origin.export_method"), "ova");
	conf_free();
	finish_like_queued(j, DIALECT_SUBMIT);
	if (job_validate(j, &stored, err, sizeof(err)) != 0)
		fail_msg("normalised submit job refused: %s", err);
	cJSON_Delete(j);
}

static void
test_dialect_submit_vsphere(void **state)
{
	char err[JOB_ERR_MAX] = "";
	cJSON *j = normalise_q("{'vm_identifier':'vm-123','provider':'vsphere'}",
	    DIALECT_SUBMIT);

	(void)state;
	assert_string_equal(job_get_str(j, "source.type"), "vsphere");
	assert_string_equal(job_get_str(j, "source.vm"), "vm-123");
	conf_free();
	finish_like_queued(j, DIALECT_SUBMIT);
	/* the dialect has no server or credential: refused, saying so */
	assert_int_equal(job_validate(j, &stored, err, sizeof(err)), -1);
	if (strstr(err, "source.server: missing") == NULL)
		fail_msg("error \"%s\" does not name source.server", err);
	cJSON_Delete(j);
	j = normalise_q("{'vm_identifier':'/DC0/vm/web01','provider':'vsphere'}",
	    DIALECT_SUBMIT);
	assert_string_equal(job_get_str(j, "source.vm_path"), "/DC0/vm/web01");
	assert_string_equal(job_get_str(j, "name"), "web01");
	cJSON_Delete(j);
	/* the seed's web job definition: vm_path, no vm_identifier */
	j = normalise_q("{'name':'Ubuntu Server Migration','vm_path':"
	    "'/DC1/vm/ubuntu-server','output_dir':'/tmp/export','format':'ova',"
	    "'options':{'hyper2kvm_daemon':true}}", DIALECT_SUBMIT);
	assert_string_equal(job_get_str(j, "source.type"), "vsphere");
	assert_string_equal(job_get_str(j, "source.vm_path"),
	    "/DC1/vm/ubuntu-server");
	assert_string_equal(job_get_str(j, "name"), "Ubuntu_Server_Migration");
	assert_string_equal(job_get_str(j, "origin.output_dir"), "/tmp/export");
	cJSON_Delete(j);
}

static void
test_dialect_submit_export_only(void **state)
{
	(void)state;
	expect_not_normalised(parse_q("{'vm_identifier':'/srv/export/a.ova',"
	    "'provider':'file','hyper2kvm_integration':{'enabled':false}}"),
	    "hyper2kvm_integration");
}

static void
test_dialect_submit_password(void **state)
{
	(void)state;
	expect_not_normalised(parse_q("{'vm_identifier':'vm-1','provider':"
	    "'vsphere','options':{'vcenter':{'password':'hunter2'}}}"),
	    "password");
}

/*
 * "password" anywhere means anywhere: a secret nested deeper than the
 * credential scan looks (in the manifest's free-form metadata, kept under
 * origin) must still keep the job out of the spool.
 */
static void
test_dialect_deep_secret(void **state)
{
	const int depth = 80;
	char err[JOB_ERR_MAX] = "", *s, *p;
	cJSON *in, *out;
	enum dialect d;
	int refused;

	(void)state;
	s = xmalloc(strlen(MANIFEST) + (size_t)depth * 6 + 64);
	p = s + sprintf(s, "{'metadata':");
	for (int i = 0; i < depth; i++)
		p += sprintf(p, "{'a':");
	p += sprintf(p, "{'password':'hunter2'}");
	for (int i = 0; i < depth; i++)
		*p++ = '}';
	sprintf(p, ",%s", &MANIFEST[1]);
	in = parse_q(s);
	free(s);
	conf_free();
	out = dialect_normalise(in, &d, err, sizeof(err));
	refused = out == NULL;
	if (!refused) {
		finish_like_queued(out, d);
		refused = job_validate(out, &stored, err, sizeof(err)) != 0;
	}
	cJSON_Delete(in);
	cJSON_Delete(out);
	if (!refused)
		fail_msg("a password nested %d levels deep was accepted", depth);
	/* Refused as too deep to be a job (the secret lies below the limit). */
	assert_non_null(strstr(err, "metadata.a.a"));
	assert_non_null(strstr(err, "nested more than"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_valid),
		cmocka_unit_test(test_full_valid),
		cmocka_unit_test(test_name_missing),
		cmocka_unit_test(test_name_dotdot),
		cmocka_unit_test(test_name_space),
		cmocka_unit_test(test_unknown_top_level),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_source_type_missing),
		cmocka_unit_test(test_source_type_unsupported),
		cmocka_unit_test(test_path_and_disks),
		cmocka_unit_test(test_path_relative),
		cmocka_unit_test(test_path_dotdot),
		cmocka_unit_test(test_path_outside_roots),
		cmocka_unit_test(test_path_prefix_trick),
		cmocka_unit_test(test_url_credentials),
		cmocka_unit_test(test_url_scheme),
		cmocka_unit_test(test_convert_format),
		cmocka_unit_test(test_source_format_targz),
		cmocka_unit_test(test_compress_raw),
		cmocka_unit_test(test_guest_modes),
		cmocka_unit_test(test_expect_serial_without_start),
		cmocka_unit_test(test_mac_bad),
		cmocka_unit_test(test_mac_lookalikes),
		cmocka_unit_test(test_password_anywhere),
		cmocka_unit_test(test_reserved_in_submission),
		cmocka_unit_test(test_parse_invalid_utf8),
		cmocka_unit_test(test_parse_escaped_nul),
		cmocka_unit_test(test_dialect_switch_not_bool),
		cmocka_unit_test(test_dialect_manifest_vm_not_object),
		cmocka_unit_test(test_parse_overlong),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_not_object),
		cmocka_unit_test(test_parse_trailing_garbage),
		cmocka_unit_test(test_parse_deep_nesting),
		cmocka_unit_test(test_parse_honours_len),
		cmocka_unit_test(test_parse_unterminated_buffer),
		cmocka_unit_test(test_read_at_bounds),
		cmocka_unit_test(test_defaults_fill),
		cmocka_unit_test(test_defaults_expect_serial_starts),
		cmocka_unit_test(test_defaults_keep_given),
		cmocka_unit_test(test_defaults_from_config),
		cmocka_unit_test(test_import_uri_not_configured),
		cmocka_unit_test(test_import_connection),
		cmocka_unit_test(test_ca_file_refused),
		cmocka_unit_test(test_defaults_guest),
		cmocka_unit_test(test_serialise_round_trip),
		cmocka_unit_test(test_dialect_v1_unchanged),
		cmocka_unit_test(test_dialect_manifest_mapping),
		cmocka_unit_test(test_dialect_manifest_validates),
		cmocka_unit_test(test_manifest_version),
		cmocka_unit_test(test_manifest_fix_enabled),
		cmocka_unit_test(test_manifest_unknown_key),
		cmocka_unit_test(test_manifest_disk_without_path),
		cmocka_unit_test(test_manifest_md5),
		cmocka_unit_test(test_dialect_submit_mapping),
		cmocka_unit_test(test_dialect_submit_vsphere),
		cmocka_unit_test(test_dialect_submit_export_only),
		cmocka_unit_test(test_dialect_submit_password),
		cmocka_unit_test(test_dialect_deep_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
