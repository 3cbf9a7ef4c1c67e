/*
 * corpus.c - the corpora of the reader tests (corpus.h): their directory,
 * their files, virt-v2v's --print-source output. Every failure is the
 * calling test's (fail_msg, assert_*).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus.h"
#include "util.h"

/* $HS_SHARED/corpus/sub, or a failure saying what is missing. */
char *
corpus_dir(const char *sub)
{
	const char *shared = getenv("HS_SHARED");
	struct stat st;
	char *dir;

	if (shared == NULL || *shared == '\0')
		shared = "../shared";
	dir = xasprintf("%s/corpus/%s", shared, sub);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		fail_msg("%s not found: the corpus test needs %s (see "
		    "DEVELOPERS.md)", dir, shared);
	return dir;
}

/* The file at path, *len bytes (not NUL-terminated); free() it. */
char *
corpus_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n = 0;

	if (f == NULL)
		fail_msg("%s: cannot open", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		fail_msg("%s: cannot size", path);
	rewind(f);
	*len = (size_t)n;
	b = xmalloc(n ? (size_t)n : 1);
	if (fread(b, 1, *len, f) != *len)
		fail_msg("%s: short read", path);
	fclose(f);
	return b;
}

/* "\tNetwork \"VM Network\" mac: 00:0c:29:36:ef:31 [vmxnet3]" */
static void
corpus_expected_nic(struct corpus_expected *e, const char *l)
{
	int i = e->nnics++;
	const char *m;

	assert_true(i < VM_MAX_NICS);
	assert_int_equal(sscanf(l, "%7s \"%63[^\"]\"", e->nic_kind[i],
	    e->nic_net[i]), 2);
	if ((m = strstr(l, " mac: ")) != NULL)
		assert_int_equal(sscanf(m, " mac: %17s", e->nic_mac[i]), 1);
	if ((m = strrchr(l, '[')) != NULL)
		assert_int_equal(sscanf(m, "[%15[^]]", e->nic_model[i]), 1);
}

/* A disk line: "[bus]" last, newer virt-v2v: "json:{...} (vmdk) [scsi]". */
static void
corpus_expected_disk(struct corpus_expected *e, const char *line)
{
	const char *lb = strrchr(line, '['), *fmt;

	assert_true(e->ndisks < VM_MAX_DISKS);
	if (lb - line > 3 && lb[-2] == ')' &&
	    (fmt = strrchr(line, '(')) != NULL && fmt < lb)
		assert_int_equal(sscanf(fmt, "(%7[^)]", e->fmt[e->ndisks]), 1);
	assert_int_equal(sscanf(lb, "[%7[^]]", e->bus[e->ndisks++]), 1);
}

/* virt-v2v --print-source output at path, the fields compared. */
void
corpus_expected_read(const char *path, struct corpus_expected *e)
{
	size_t len;
	char *b = corpus_slurp(path, &len), *line, *save = NULL, *text;
	const char *section = "";

	memset(e, 0, sizeof(*e));
	text = xstrndup(b, len);
	free(b);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *v = strstr(line, ": ");

		if (line[0] == '\t' && strcmp(section, "disks") == 0)
			corpus_expected_disk(e, line);
		else if (line[0] == '\t' && strcmp(section, "nics") == 0)
			corpus_expected_nic(e, line + 1);
		else if (strcmp(line, "disks:") == 0)
			section = "disks";
		else if (strcmp(line, "NICs:") == 0)
			section = "nics";
		else if (strcmp(line, "removable media:") == 0)
			section = "media";
		else if (strstr(line, "source name: ") != NULL)
			snprintf(e->name, sizeof(e->name), "%s", v + 2);
		else if (strstr(line, " memory: ") != NULL)
			e->memory = strtoull(v + 2, NULL, 10);
		else if (strstr(line, "nr vCPUs: ") != NULL)
			e->cpus = atoi(v + 2);
		else if (strstr(line, "firmware: ") != NULL)
			snprintf(e->firmware, sizeof(e->firmware), "%s", v + 2);
	}
	free(text);
	if (e->name[0] == '\0' || e->memory == 0 || e->cpus == 0 ||
	    e->ndisks == 0)
		fail_msg("%s: not virt-v2v --print-source output", path);
}

/* vm (described from what) has e's name, memory, vCPUs, firmware, disks. */
void
corpus_expected_hw(const char *what, const struct vmdesc *vm,
    const struct corpus_expected *e)
{
	if (strcmp(vm->name ? vm->name : "", e->name) != 0)
		fail_msg("%s: name '%s', virt-v2v says '%s'", what, vm->name,
		    e->name);
	assert_true((uint64_t)vm->memory_mib << 20 == e->memory);
	assert_int_equal(vm->cpus, e->cpus);
	assert_string_equal(vm->firmware, e->firmware);
	assert_int_equal(vm->ndisks, e->ndisks);
}
