/*
 * corpus.h - what the reader tests (test_ovf, test_vmx) share about the
 * corpora in $HS_SHARED/corpus/ (default ../shared): finding a corpus
 * directory (its absence fails the test, never skips it), reading a file
 * whole, and virt-v2v's --print-source output (the .expected files) read
 * into the fields both compare. Failures are cmocka's: fail_msg().
 */
#ifndef HS_TEST_CORPUS_H
#define HS_TEST_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "vmdesc.h"

/* What virt-v2v --print-source says of one VM. */
struct corpus_expected {
	char	 name[128], firmware[8];
	uint64_t memory;
	int	 cpus, ndisks, nnics;
	char	 bus[VM_MAX_DISKS][8], fmt[VM_MAX_DISKS][8];
	char	 nic_kind[VM_MAX_NICS][8], nic_net[VM_MAX_NICS][64];
	char	 nic_mac[VM_MAX_NICS][18], nic_model[VM_MAX_NICS][16];
};

char	*corpus_dir(const char *);
char	*corpus_slurp(const char *, size_t *);
void	 corpus_expected_read(const char *, struct corpus_expected *);
void	 corpus_expected_hw(const char *, const struct vmdesc *,
	    const struct corpus_expected *);

#endif
