/**
 * The text files that make the demo image look like Raspberry Pi OS Bookworm. Their text is part
 * of the build's manifest (through `demoFiles`), so editing one rebuilds the image.
 */
import { DEMO_HOSTNAME, demoPartUuid, type DemoArch } from './spec.ts'

export const FIRSTBOOT_PATH = '/usr/lib/raspberrypi-sys-mods/firstboot'

export function cmdlineTxt(): string {
  return `console=serial0,115200 console=tty1 root=PARTUUID=${demoPartUuid(2)} rootfstype=ext4 fsck.repair=yes rootwait quiet init=${FIRSTBOOT_PATH}\n`
}

export function configTxt(arch: DemoArch): string {
  const arch64 = arch === 'arm64' ? '# Run in 64-bit mode\narm_64bit=1\n\n' : ''
  return `# For more options and information see the Raspberry Pi documentation of config.txt
# Some settings may impact device functionality.

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

${arch64}# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / board allows
arm_boost=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
`
}

export function issueTxt(arch: DemoArch): string {
  return `pibake demo image (${arch}), laid out like Raspberry Pi OS Bookworm, built from Debian packages\n`
}

export function fstab(): string {
  return `proc            /proc           proc    defaults          0       0
PARTUUID=${demoPartUuid(1)}  /boot/firmware  vfat    defaults          0       2
PARTUUID=${demoPartUuid(2)}  /               ext4    defaults,noatime  0       1
`
}

export function hosts(): string {
  return `127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters

127.0.1.1\t${DEMO_HOSTNAME}
`
}

/** Raspberry Pi OS's swap file settings (dphys-swapfile reads them). */
export const DPHYS_SWAPFILE = `# /etc/dphys-swapfile - user settings for dphys-swapfile package
# where we want the swapfile to be
#CONF_SWAPFILE=/var/swap

# set size to absolute value, leaving empty (default) then uses computed value
CONF_SWAPSIZE=100

# restrict size (computed and absolute!) to maximally this limit
#CONF_MAXSWAP=2048
`

export const SUDOERS_PI = `pi ALL=(ALL) NOPASSWD: ALL\n`

/** Like raspberrypi-sys-mods' firstboot: grow the root to the whole card, drop init=, reboot. */
export const FIRSTBOOT = `#!/bin/sh
# First boot, as Raspberry Pi OS does it: grow the root partition and its file system to the
# whole card, take this script out of cmdline.txt, and reboot. (pibake demo image)

reboot_pi () {
  umount /boot/firmware
  mount / -o remount,ro
  sync
  reboot -f
  sleep 5
  exit 0
}

grow_root () {
  root_dev=$(findmnt / -no source)
  disk=/dev/$(lsblk -no pkname "$root_dev")
  part_num=$(cat "/sys/class/block/\${root_dev#/dev/}/partition")
  echo ', +' | sfdisk --no-reread --no-tell-kernel -N "$part_num" "$disk" || return 0
  partx -u -n "$part_num" "$disk"
  resize2fs "$root_dev"
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /run
mkdir -p /run/systemd
mount / -o remount,rw
mount /boot/firmware
sed -i 's| init=${FIRSTBOOT_PATH}||' /boot/firmware/cmdline.txt
grow_root
reboot_pi
`

export const REGENERATE_SSH_HOST_KEYS_SERVICE = `[Unit]
Description=Regenerate SSH host keys
Before=ssh.service
ConditionFileIsExecutable=/usr/bin/ssh-keygen

[Service]
Type=oneshot
ExecStartPre=-/bin/sh -c "/bin/rm -f -v /etc/ssh/ssh_host_*_key*"
ExecStart=/usr/bin/ssh-keygen -A -v
ExecStartPost=/bin/systemctl disable regenerate_ssh_host_keys

[Install]
WantedBy=multi-user.target
`

export const USERCONFIG_SERVICE = `[Unit]
Description=Apply the first user's name and password from the boot partition
ConditionPathExists=/boot/firmware/userconf.txt
After=local-fs.target
Before=getty@tty1.service ssh.service

[Service]
Type=oneshot
ExecStart=/usr/lib/userconf-pi/userconf-service
ExecStartPost=/bin/systemctl disable userconfig

[Install]
WantedBy=multi-user.target
`

/** Reads `name:password-hash` from userconf.txt, renames the first user and sets its password. */
export const USERCONF_SERVICE_SCRIPT = `#!/bin/sh
set -eu
conf=/boot/firmware/userconf.txt
IFS=: read -r name hash < "$conf"
old=$(getent passwd 1000 | cut -d: -f1)
if [ -n "$name" ] && [ "$name" != "$old" ]; then
  usermod -l "$name" -d "/home/$name" -m "$old"
  groupmod -n "$name" "$old" || true  # the user's own group may have another name
fi
usermod -p "$hash" "\${name:-$old}"
rm -f "$conf"
`
