/*
 * jobid.c - create and check job IDs (syntax in jobid.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jobid.h"
#include "util.h"

static uint32_t
jobid_host_hash(void)
{
	const unsigned char *p = (const unsigned char *)util_hostname();
	uint32_t h = 2166136261u;

	for (; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

void
jobid_new(char out[JOBID_LEN + 1])
{
	struct timeval tv;
	struct tm tm;
	uint32_t rnd = 0;
	char ts[16];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)tv.tv_usec ^ ((uint32_t)getpid() << 16);
	snprintf(out, JOBID_LEN + 1, "%s-%06ld-%08x-%08x-%08x", ts,
	    (long)tv.tv_usec, jobid_host_hash(), (unsigned)getpid(), rnd);
}

static bool
jobid_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool
jobid_lowhex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool
jobid_valid(const char *s)
{
	if (s == NULL || strnlen(s, JOBID_LEN + 1) != JOBID_LEN)
		return false;
	return jobid_digits(s, 8) && s[8] == 'T' && jobid_digits(s + 9, 6) &&
	    s[15] == '-' && jobid_digits(s + 16, 6) && s[22] == '-' &&
	    jobid_lowhex(s + 23, 8) && s[31] == '-' &&
	    jobid_lowhex(s + 32, 8) && s[40] == '-' && jobid_lowhex(s + 41, 8);
}
