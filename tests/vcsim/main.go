// hs-vcsim: the vSphere simulator hyperspool's tests run against.
//
// Built offline from Debian's golang-github-vmware-govmomi-dev (see
// tests/vcsim/build). Everything a vSphere client does over SOAP
// (RetrieveServiceContent, Login, PropertyCollector, SearchIndex,
// snapshots) and the datastore's /folder HTTP access (GET with Range, PUT)
// is govmomi's real simulator, vcsim, unchanged.
//
// What is FAKE here, and why: vcsim (govmomi 0.24) has no ExportVm and no
// way to download a VM's disks through an NFC lease, and no switch to make
// its /folder or NFC URLs fail. So a thin front server stands between the
// client and vcsim:
//   - it answers ExportVm itself: it makes a real vcsim HttpNfcLease object
//     (so the PropertyCollector reports its state and info, and
//     HttpNfcLeaseProgress/Complete/Abort are vcsim's own) whose device URLs
//     point at /nfc-fake/LEASE/KEY on this front, with a "*" host as ESXi
//     puts it;
//   - it serves those URLs from the VM's disk files in the datastore (Range
//     supported), while the lease is ready;
//   - it expires a lease that got no HttpNfcLeaseProgress for its timeout
//     (vcsim never expires leases), as vCenter does;
//   - it injects faults when a test asks (POST /_hs/fault, loopback only):
//     folder503=N (next N /folder requests get 503; -1: all), nfc401=N,
//     nfc503=N, expire=N (expire the next N leases after their first bytes),
//     notauth=N (answer the next N SOAP calls but RetrieveServiceContent and
//     Login with NotAuthenticated, as vCenter does once a session expired),
//     leasetimeout=SECONDS (of new leases), reset=1.
// Everything else is proxied to vcsim as it is.
//
// Usage: hs-vcsim -cert FILE -key FILE -user U -pass P -url-file FILE
//        [-listen 127.0.0.1:0] [-vms N] [-on VM,...] [-snapshot VM:NAME,...]
//        [-hw VM:CPUS:MEMORY_MB:bios|efi,...] [-disk VM:FILE:SIZE_MB:ide|scsi,...]
// VMs not named by -on are powered off (through vcsim's own PowerOff);
// -snapshot takes snapshots (vcsim's CreateSnapshot) once they are; -hw
// reconfigures VMs first and -disk adds disks (vcsim's ReconfigVM). Requests to /folder and to
// NFC URLs are logged on stderr with their Range header.
// It writes its https URL into -url-file once it serves, and prints the
// inventory (VM name, path, datastore dir) on stdout.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type faults struct {
	sync.Mutex
	folder503    int
	nfc401       int
	nfc503       int
	expire       int
	notAuth      int
	leaseTimeout int
}

type fakeLease struct {
	sync.Mutex
	lease    *simulator.HttpNfcLease
	files    map[string]string // device key -> local file
	last     time.Time         // last progress
	timeout  time.Duration
	expired  bool
	done     bool // completed or aborted: no longer watched or served
	expireAt bool // expire after the first bytes served
}

var (
	flt    = faults{leaseTimeout: 300}
	leases sync.Map // lease id -> *fakeLease
)

func take(n *int) bool {
	if *n == 0 {
		return false
	}
	if *n > 0 {
		*n--
	}
	return true
}

// ---- SOAP envelopes the fake writes (encoding/xml, no string pasting) ----

type soapFault struct {
	XMLName xml.Name `xml:"soapenv:Fault"`
	Code    string   `xml:"faultcode"`
	String  string   `xml:"faultstring"`
	Detail  struct {
		Inner interface{}
	} `xml:"detail"`
}

type invalidPowerState struct {
	XMLName   xml.Name `xml:"InvalidPowerStateFault"`
	XSIType   string   `xml:"xsi:type,attr"`
	Requested string   `xml:"requestedState"`
	Existing  string   `xml:"existingState"`
}

type exportVmResponse struct {
	XMLName   xml.Name                       `xml:"urn:vim25 ExportVmResponse"`
	Returnval types.ManagedObjectReference `xml:"returnval"`
}

type envelope struct {
	XMLName xml.Name `xml:"soapenv:Envelope"`
	NSEnv   string   `xml:"xmlns:soapenv,attr"`
	NSXsi   string   `xml:"xmlns:xsi,attr"`
	Body    struct {
		Inner interface{}
	} `xml:"soapenv:Body"`
}

func writeSOAP(w http.ResponseWriter, status int, inner interface{}) {
	env := envelope{NSEnv: "http://schemas.xmlsoap.org/soap/envelope/",
		NSXsi: "http://www.w3.org/2001/XMLSchema-instance"}
	env.Body.Inner = inner
	out, err := xml.Marshal(env)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// The _this of an ExportVm request.
type exportReq struct {
	Body struct {
		ExportVm struct {
			This types.ManagedObjectReference `xml:"_this"`
		} `xml:"ExportVm"`
	} `xml:"Body"`
}

type progressReq struct {
	Body struct {
		P struct {
			This types.ManagedObjectReference `xml:"_this"`
		} `xml:"HttpNfcLeaseProgress"`
	} `xml:"Body"`
}

type endReq struct {
	Body struct {
		Complete struct {
			This types.ManagedObjectReference `xml:"_this"`
		} `xml:"HttpNfcLeaseComplete"`
		Abort struct {
			This types.ManagedObjectReference `xml:"_this"`
		} `xml:"HttpNfcLeaseAbort"`
	} `xml:"Body"`
}

// Complete or Abort (then vcsim's own): the lease is no longer watched.
func leaseEnd(body []byte) {
	var req endReq
	if xml.Unmarshal(body, &req) != nil {
		return
	}
	for _, id := range []string{req.Body.Complete.This.Value, req.Body.Abort.This.Value} {
		if v, ok := leases.Load(id); ok && id != "" {
			fl := v.(*fakeLease)
			fl.Lock()
			fl.done = true
			fl.Unlock()
			log.Printf("lease %s ended by the client", id)
		}
	}
}

// The local file of a "[ds] path" datastore path.
func localPath(dsPath string) string {
	if !strings.HasPrefix(dsPath, "[") {
		return ""
	}
	end := strings.Index(dsPath, "]")
	if end < 0 {
		return ""
	}
	name, rel := dsPath[1:end], strings.TrimSpace(dsPath[end+1:])
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == name {
			return path.Join(ds.Info.GetDatastoreInfo().Url, rel)
		}
	}
	return ""
}

func exportVm(w http.ResponseWriter, body []byte) {
	var req exportReq
	if err := xml.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	obj := simulator.Map.Get(req.Body.ExportVm.This)
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok {
		f := soapFault{Code: "ServerFaultCode", String: "The object has already been deleted or has not been completely created"}
		f.Detail.Inner = struct {
			XMLName xml.Name `xml:"ManagedObjectNotFoundFault"`
		}{}
		writeSOAP(w, 500, f)
		return
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		f := soapFault{Code: "ServerFaultCode", String: "The attempted operation cannot be performed in the current state (Powered on)."}
		f.Detail.Inner = invalidPowerState{XSIType: "InvalidPowerState",
			Requested: "poweredOff", Existing: string(vm.Runtime.PowerState)}
		writeSOAP(w, 500, f)
		return
	}
	flt.Lock()
	timeout, expire := flt.leaseTimeout, take(&flt.expire)
	flt.Unlock()

	fl := &fakeLease{files: map[string]string{}, last: time.Now(),
		timeout: time.Duration(timeout) * time.Second, expireAt: expire}
	lease := &simulator.HttpNfcLease{}
	lease.State = types.HttpNfcLeaseStateInitializing
	simulator.Map.Put(lease)
	id := lease.Self.Value
	info := &types.HttpNfcLeaseInfo{Lease: lease.Self, Entity: vm.Self,
		LeaseTimeout: int32(timeout)}
	n := 0
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		key := fmt.Sprintf("/vm-%s/VirtualLsiLogicController0:%d", vm.Self.Value, n)
		file := fmt.Sprintf("disk-%d.vmdk", n)
		// ESXi streams a disk out of an NFC lease as a streamOptimized
		// VMDK: made here by the real qemu-img from the datastore's disk.
		lp, err := streamOptimized(localPath(b.GetVirtualDeviceFileBackingInfo().FileName))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var size int64
		if st, err := os.Stat(lp); err == nil {
			size = st.Size()
		}
		fl.files[file] = lp
		yes := true
		info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key: key, ImportKey: key, Disk: &yes, FileSize: size,
			Url:        fmt.Sprintf("https://*/nfc-fake/%s/%s", id, file),
			TargetId:   file,
		})
		info.TotalDiskCapacityInKB += disk.CapacityInKB
		n++
	}
	fl.lease = lease
	leases.Store(id, fl)
	// Ready a moment later, as vCenter does after preparing the export.
	go func() {
		time.Sleep(300 * time.Millisecond)
		simulator.Map.WithLock(lease, func() {
			lease.Info = info
			lease.State = types.HttpNfcLeaseStateReady
		})
		watchLease(fl)
	}()
	writeSOAP(w, 200, exportVmResponse{Returnval: lease.Self})
}

func streamOptimized(desc string) (string, error) {
	dir, err := ioutil.TempDir("", "hs-vcsim-nfc-")
	if err != nil {
		return "", err
	}
	out := path.Join(dir, "disk.vmdk")
	cmd := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "vmdk",
		"-o", "subformat=streamOptimized", desc, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("qemu-img: %s: %s", err, msg)
	}
	return out, nil
}

func expireLease(fl *fakeLease) {
	fl.expired = true
	simulator.Map.WithLock(fl.lease, func() {
		fl.lease.State = types.HttpNfcLeaseStateError
		fl.lease.Error = &types.LocalizedMethodFault{Fault: &types.Timedout{},
			LocalizedMessage: "Operation timed out: the lease expired"}
	})
}

// vCenter aborts a lease that got no progress for its timeout.
func watchLease(fl *fakeLease) {
	for {
		time.Sleep(200 * time.Millisecond)
		fl.Lock()
		if fl.expired || fl.done {
			fl.Unlock()
			return
		}
		if time.Since(fl.last) > fl.timeout {
			expireLease(fl)
			fl.Unlock()
			log.Printf("lease %s expired: no progress for %s", fl.lease.Self.Value, fl.timeout)
			return
		}
		fl.Unlock()
	}
}

func progress(body []byte) {
	var req progressReq
	if xml.Unmarshal(body, &req) != nil {
		return
	}
	if v, ok := leases.Load(req.Body.P.This.Value); ok {
		fl := v.(*fakeLease)
		fl.Lock()
		fl.last = time.Now()
		fl.Unlock()
		log.Printf("lease %s progress", req.Body.P.This.Value)
	}
}

// expiringReader expires its lease once the first bytes went out.
type expiringReader struct {
	io.ReadSeeker
	fl   *fakeLease
	sent int64
}

func (r *expiringReader) Read(p []byte) (int, error) {
	r.fl.Lock()
	dead := r.fl.expired
	if !dead && r.fl.expireAt && r.sent > 0 {
		expireLease(r.fl)
		dead = true
	}
	r.fl.Unlock()
	if dead {
		return 0, fmt.Errorf("lease expired")
	}
	if len(p) > 65536 {
		p = p[:65536]
	}
	n, err := r.ReadSeeker.Read(p)
	r.sent += int64(n)
	return n, err
}

func serveNFC(w http.ResponseWriter, r *http.Request) {
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/nfc-fake/"), "/")
	if len(p) != 2 {
		http.NotFound(w, r)
		return
	}
	flt.Lock()
	f401, f503 := take(&flt.nfc401), take(&flt.nfc503)
	flt.Unlock()
	log.Printf("nfc %s %s range=%q", r.Method, r.URL.Path, r.Header.Get("Range"))
	if f401 {
		http.Error(w, "unauthorized (injected)", 401)
		return
	}
	if f503 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy (injected)", 503)
		return
	}
	v, ok := leases.Load(p[0])
	if !ok {
		http.NotFound(w, r)
		return
	}
	fl := v.(*fakeLease)
	fl.Lock()
	file, ok := fl.files[p[1]]
	dead := fl.expired || fl.done
	fl.Unlock()
	if !ok || dead {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	http.ServeContent(w, r, p[1], st.ModTime(), &expiringReader{ReadSeeker: f, fl: fl})
}

func setFault(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		http.Error(w, "forbidden", 403)
		return
	}
	_ = r.ParseForm()
	flt.Lock()
	defer flt.Unlock()
	for k := range r.Form {
		n, _ := strconv.Atoi(r.Form.Get(k))
		switch k {
		case "folder503":
			flt.folder503 = n
		case "nfc401":
			flt.nfc401 = n
		case "nfc503":
			flt.nfc503 = n
		case "expire":
			flt.expire = n
		case "notauth":
			flt.notAuth = n
		case "leasetimeout":
			flt.leaseTimeout = n
		case "reset":
			flt.folder503, flt.nfc401, flt.nfc503, flt.expire = 0, 0, 0, 0
			flt.notAuth = 0
			flt.leaseTimeout = 300
		default:
			http.Error(w, "unknown fault "+k, 400)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

func front(backend *url.URL) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(backend)
	mux := http.NewServeMux()
	mux.HandleFunc("/_hs/fault", setFault)
	mux.HandleFunc("/nfc-fake/", serveNFC)
	mux.HandleFunc("/folder/", func(w http.ResponseWriter, r *http.Request) {
		flt.Lock()
		busy := take(&flt.folder503)
		flt.Unlock()
		log.Printf("folder %s %s range=%q busy=%v", r.Method, r.URL.Path,
			r.Header.Get("Range"), busy)
		if busy {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy (injected)", 503)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, err := ioutil.ReadAll(io.LimitReader(r.Body, 16<<20))
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			flt.Lock()
			expired := !bytes.Contains(body, []byte("RetrieveServiceContent")) &&
				!bytes.Contains(body, []byte("<Login")) && take(&flt.notAuth)
			flt.Unlock()
			switch {
			case expired:
				// what vCenter answers once a session has expired
				log.Printf("sdk: session reported expired (injected)")
				f := soapFault{Code: "ServerFaultCode", String: "The session is not authenticated."}
				f.Detail.Inner = struct {
					XMLName xml.Name `xml:"NotAuthenticatedFault"`
					XSIType string   `xml:"xsi:type,attr"`
				}{XSIType: "NotAuthenticated"}
				writeSOAP(w, 500, f)
				return
			case bytes.Contains(body, []byte("ExportVm")):
				exportVm(w, body)
				return
			case bytes.Contains(body, []byte("HttpNfcLeaseProgress")):
				progress(body)
			case bytes.Contains(body, []byte("HttpNfcLeaseComplete")),
				bytes.Contains(body, []byte("HttpNfcLeaseAbort")):
				leaseEnd(body)
			}
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		proxy.ServeHTTP(w, r)
	})
	return mux
}

// Power states and snapshots, through vcsim's SOAP API like any client.
// addDisk: a new disk FILE (in the VM's directory) of SIZE_MB on the VM's
// first IDE or SCSI controller, created by vcsim's ReconfigVM.
func addDisk(ctx context.Context, f *find.Finder, spec string) error {
	p := strings.Split(spec, ":")
	if len(p) != 4 {
		return fmt.Errorf("-disk %q: want VM:FILE:SIZE_MB:ide|scsi", spec)
	}
	vm, err := f.VirtualMachine(ctx, p[0])
	if err != nil {
		return err
	}
	ds, err := f.Datastore(ctx, "LocalDS_0")
	if err != nil {
		return err
	}
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	var ctrl types.BaseVirtualController
	if p[3] == "ide" {
		ctrl, err = devices.FindIDEController("")
	} else {
		ctrl, err = devices.FindSCSIController("")
	}
	if err != nil {
		return err
	}
	size, _ := strconv.Atoi(p[2])
	disk := devices.CreateDisk(ctrl, ds.Reference(),
		fmt.Sprintf("[LocalDS_0] %s/%s", p[0], p[1]))
	disk.CapacityInKB = int64(size) * 1024
	return vm.AddDevice(ctx, disk)
}

func setup(backend *url.URL, user, pass, on, snaps, hw, disks string) error {
	ctx := context.Background()
	u := *backend
	u.Path = "/sdk"
	u.User = url.UserPassword(user, pass)
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return err
	}
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	for _, s := range strings.Split(hw, ",") {
		p := strings.Split(s, ":")
		if len(p) != 4 {
			continue
		}
		vm, err := f.VirtualMachine(ctx, p[0])
		if err != nil {
			return err
		}
		cpus, _ := strconv.Atoi(p[1])
		mem, _ := strconv.Atoi(p[2])
		t, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{
			NumCPUs: int32(cpus), MemoryMB: int64(mem), Firmware: p[3]})
		if err == nil {
			err = t.Wait(ctx)
		}
		if err != nil {
			return err
		}
	}
	for _, d := range strings.Split(disks, ",") {
		if d == "" {
			continue
		}
		if err := addDisk(ctx, f, d); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	for _, n := range strings.Split(on, ",") {
		keep[n] = true
	}
	list, err := f.VirtualMachineList(ctx, "*")
	if err != nil {
		return err
	}
	for _, vm := range list {
		if keep[vm.Name()] {
			continue
		}
		t, err := vm.PowerOff(ctx)
		if err == nil {
			err = t.Wait(ctx)
		}
		if err != nil {
			return err
		}
	}
	for _, s := range strings.Split(snaps, ",") {
		p := strings.SplitN(s, ":", 2)
		if len(p) != 2 {
			continue
		}
		vm, err := f.VirtualMachine(ctx, p[0])
		if err != nil {
			return err
		}
		t, err := vm.CreateSnapshot(ctx, p[1], "hyperspool test", false, false)
		if err == nil {
			err = t.Wait(ctx)
		}
		if err != nil {
			return err
		}
	}
	return c.Logout(ctx)
}

func main() {
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS key (PEM)")
	user := flag.String("user", "hsuser", "the one valid user name")
	pass := flag.String("pass", "", "its password")
	listen := flag.String("listen", "127.0.0.1:0", "address of the front")
	urlFile := flag.String("url-file", "", "write the https URL here when ready")
	vms := flag.Int("vms", 2, "VMs on the one host")
	on := flag.String("on", "", "VMs left powered on (comma-separated names)")
	snaps := flag.String("snapshot", "", "VM:NAME snapshots to take (comma-separated)")
	hw := flag.String("hw", "", "VM:CPUS:MEMORY_MB:FIRMWARE reconfigurations (comma-separated)")
	disks := flag.String("disk", "", "VM:FILE:SIZE_MB:ide|scsi disks to add (comma-separated)")
	flag.Parse()
	if *cert == "" || *key == "" || *pass == "" || *urlFile == "" {
		log.Fatal("usage: hs-vcsim -cert F -key F -pass P -url-file F [-user U] [-listen A] [-vms N]")
	}

	m := simulator.VPX()
	m.Datacenter, m.Cluster, m.Host, m.Machine = 1, 0, 1, *vms
	m.ClusterHost, m.Pool, m.Portgroup = 0, 0, 0
	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	defer m.Remove()
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *pass)}
	s := m.Service.NewServer()
	defer s.Close()
	backend, _ := url.Parse(s.URL.String())
	backend.User, backend.Path = nil, ""

	if err := setup(backend, *user, *pass, *on, *snaps, *hw, *disks); err != nil {
		log.Fatal(err)
	}

	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: front(backend),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}

	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		fmt.Printf("vm %s %s %s %s\n", vm.Name, vm.Self.Value,
			vm.Runtime.PowerState, vm.Config.Files.VmPathName)
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				b := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
				fmt.Printf("disk %s %s %d\n", vm.Name,
					b.GetVirtualDeviceFileBackingInfo().FileName, disk.CapacityInBytes)
			}
		}
	}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		fmt.Printf("datastore %s %s\n", ds.Name, ds.Info.GetDatastoreInfo().Url)
	}
	u := fmt.Sprintf("https://%s", ln.Addr().String())
	tmp := *urlFile + ".tmp"
	if err := ioutil.WriteFile(tmp, []byte(u+"\n"), 0644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, *urlFile); err != nil {
		log.Fatal(err)
	}
	// SIGTERM/SIGINT: remove the datastore's temp directories on the way out
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		m.Remove()
		os.Exit(0)
	}()
	err = srv.ServeTLS(ln, "", "")
	m.Remove()
	log.Fatal(err)
}
