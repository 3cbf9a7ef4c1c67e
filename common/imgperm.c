/*
 * imgperm.c - who may read converted images.
 *
 * Functions: imgperm_group() (the images' group: config
 * convert.images_group, by default libvirt-qemu when that group exists)
 * and imgperm_set() (an output directory's or image's group and mode).
 *
 * The daemons run with umask 077 (daemon.c): nothing they make is for
 * anyone else unless they say so. A converted image is for the hypervisor
 * only, never for the submitters (who share the spool's group and must
 * not read each other's disks): with an images group, OUTPUT_DIR/ID is
 * 0710 and each image 0640, both of that group (qemu under qemu:///system
 * runs as libvirt-qemu, whose group it is, and can open the image even
 * where libvirt's dynamic ownership is off); without one, OUTPUT_DIR/ID
 * is 0711 (searchable, not listable) and images 0600, readable by libvirt
 * only after dynamic ownership chowns them to its qemu user.
 *
 * The daemon may be unable to give a file that group (not a member, or a
 * user namespace that does not map it: the convertwatch unit's
 * PrivateUsers=): then it falls back to the modes without a group, which
 * keep the images from everyone but libvirt just the same.
 *
 * Error policy: imgperm_group() 0, or -1 with a one-line reason in err (a
 * configured group that does not exist). imgperm_set() 0; 1 when it fell
 * back as above (why in err, for a warning); -1 with the reason in err
 * when the mode cannot be set. Nothing logs.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "imgperm.h"

#define IMGPERM_DEFAULT	"libvirt-qemu"

/*
 * The images' group into *gid; (gid_t)-1 when there is none (the key set
 * to "" or "none", or unset and no libvirt-qemu group on this host).
 */
int
imgperm_group(gid_t *gid, char *err, size_t errlen)
{
	const char *name = conf_str("convert.images_group", NULL);
	struct group *g;

	*gid = (gid_t)-1;
	if (name != NULL && (name[0] == '\0' || strcmp(name, "none") == 0))
		return 0;
	errno = 0;
	g = getgrnam(name != NULL ? name : IMGPERM_DEFAULT);
	if (g != NULL) {
		*gid = g->gr_gid;
		return 0;
	}
	if (name == NULL)
		return 0;	/* the default group is optional */
	snprintf(err, errlen, "convert.images_group: no group '%s'%s%s", name,
	    errno ? ": " : "", errno ? strerror(errno) : "");
	return -1;
}

/*
 * fd is an output directory (dir) or a converted image: give it the
 * images' group and the mode above.
 */
int
imgperm_set(int fd, bool dir, char *err, size_t errlen)
{
	gid_t gid;
	int rc = 0;

	if (imgperm_group(&gid, err, errlen) != 0)
		return -1;
	if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) {
		snprintf(err, errlen, "cannot give %s to group %ld (%s): only "
		    "libvirt's dynamic ownership will let qemu read it",
		    dir ? "an output directory" : "an image", (long)gid,
		    strerror(errno));
		gid = (gid_t)-1;
		rc = 1;
	}
	if (fchmod(fd, gid != (gid_t)-1 ? (dir ? 0710 : 0640) :
	    (dir ? 0711 : 0600)) != 0) {
		snprintf(err, errlen, "cannot set the mode of %s: %s",
		    dir ? "an output directory" : "an image", strerror(errno));
		return -1;
	}
	return rc;
}
