/*
 * vsnfc.h - nfc mode of the vSphere provider (vsnfc.c), called by
 * prov_vsphere.c for source.mode "nfc". Returns an HS_EXIT_* code with
 * ctx->reason set on failure.
 */
#ifndef HS_VSNFC_H
#define HS_VSNFC_H

#include "vsjob.h"

int	 vsnfc_export(struct vs_job *);

#endif
