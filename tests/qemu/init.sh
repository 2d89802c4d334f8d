#!/bin/busybox sh
# init.sh: /init of the QEMU guests: mount, load virtio-net and tun, take the address from the kernel command line, then a shell on the serial console for the driver (tests/qemu/vmlib.py).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
dmesg -n 1
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
	failover net_failover virtio_net tun; do
	insmod /lib/modules/$m.ko || echo "capvm: insmod $m failed"
done
# capvm.ip=ADDR/LEN capvm.route=NET,VIA (optional) capvm.name=NAME
for kv in $(cat /proc/cmdline); do
	case $kv in
	capvm.ip=*) ip_addr=${kv#capvm.ip=} ;;
	capvm.route=*) route=${kv#capvm.route=} ;;
	capvm.name=*) hostname "${kv#capvm.name=}" ;;
	esac
done
ip link set lo up
ip addr add "$ip_addr" dev eth0
ip link set eth0 up
[ -n "${route:-}" ] && ip route add "${route%,*}" via "${route#*,}"
mkdir -p /run/capsule /etc/capsule /var

# waitlog FILE REGEX SECONDS: the driver's readiness wait, on a line a program printed
# (polled every 20 ms, bounded); prints the matching line, or why not and exits 1.
cat > /bin/waitlog <<'EOS'
#!/bin/sh
n=0
while ! grep -qE "$2" "$1" 2>/dev/null; do
	n=$((n + 1))
	[ $n -gt $(($3 * 50)) ] && { echo "capvm: no /$2/ in $1 after $3 s:"; tail -5 "$1"; exit 1; }
	usleep 20000
done
grep -E "$2" "$1" | tail -1
EOS
chmod +x /bin/waitlog
# The driver speaks over the console: no echo of its commands, no prompt.
stty -echo 2>/dev/null
echo "CAPVM-READY $(hostname) $ip_addr"
export PS1= PS2=
# PID 1 must never end (the kernel panics): the console shell is its child, and another
# starts on a freshly opened console if it ends (one did, exit 0, on a source VM after a
# migration: see docs/QEMU.md).
while :; do
	sh </dev/console >/dev/console 2>&1
	echo "capvm: console shell ended with $?, starting another" >/dev/console
done
