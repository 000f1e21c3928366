/**
 * The seccomp profile of a box under gVisor (runsc registered with `--oci-seccomp`, which applies
 * the box's profile to the code inside gVisor's own kernel).
 *
 * Why not Docker's default there: it answers `clone3` with ENOSYS so that glibc falls back to
 * `clone`, and gVisor (Debian's 2022 runsc) ignores a rule's errno and answers EPERM, on which glibc
 * gives up: no thread can start (Node aborts at start; Python's threading fails). gVisor's kernel
 * has no `clone3` of its own and answers ENOSYS itself, so this profile leaves it alone.
 *
 * What it refuses (EPERM) is what Docker's default refuses that opens kernel surface or privilege
 * to an unprivileged program: new namespaces (unshare, setns, clone with a CLONE_NEW* flag), mounts,
 * the keyring, BPF and perf, modules, kexec, other processes' memory, handles that escape a mount,
 * clocks, swap, reboot, and personality flags that weaken ASLR. Everything else reaches gVisor's
 * kernel, which implements a narrower set than the host's and is itself filtered on the host by
 * runsc's own profile.
 */

const DENIED = [
  'unshare',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'init_module',
  'finit_module',
  'delete_module',
  'create_module',
  'query_module',
  'get_kernel_syms',
  'kexec_load',
  'kexec_file_load',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'name_to_handle_at',
  'open_by_handle_at',
  'lookup_dcookie',
  'mbind',
  'get_mempolicy',
  'set_mempolicy',
  'move_pages',
  'migrate_pages',
  'clock_settime',
  'clock_adjtime',
  'settimeofday',
  'adjtimex',
  'acct',
  'quotactl',
  'swapon',
  'swapoff',
  'reboot',
  'syslog',
  'sethostname',
  'setdomainname',
  'fanotify_init',
  'iopl',
  'ioperm',
  'uselib',
  'vhangup',
  '_sysctl',
  'sysfs',
  'ustat',
];

/** clone's namespace flags: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
/** personality flags Docker's default never allows: ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC. */
const PERSONALITY = [0x0040000, 0x0400000];

/** A rule refusing `name` when its first argument has the bit `flag` (rules are OR'd; a rule's args AND'ed). */
const whenFlag = (name: string) => (flag: number) => ({
  names: [name],
  action: 'SCMP_ACT_ERRNO',
  errnoRet: 1,
  args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
});

/** The profile as Docker's `seccomp=<json>` security option takes it. */
export const GVISOR_SECCOMP_PROFILE = JSON.stringify({
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [
    { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
    ...CLONE_NEW.map(whenFlag('clone')),
    ...PERSONALITY.map(whenFlag('personality')),
  ],
});
