/*
 * vmcheck.h - what the OVF, VMX and OVA harnesses do with a VM
 * description a parser accepted: what the later stages do with it.
 */
#ifndef HS_FUZZ_VMCHECK_H
#define HS_FUZZ_VMCHECK_H

#include "vmdesc.h"

void	 vmcheck_use(struct vmdesc *);

#endif
