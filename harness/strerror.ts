// strerror(3) as glibc words it, for the messages the C tests print with
// perror() or "%s", strerror(errno).

import type { Errno, ErrnoName } from '../uapi/linux.ts';

const MESSAGES: Readonly<Record<ErrnoName, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENOSYS: 'Function not implemented',
  EOPNOTSUPP: 'Operation not supported',
  EHWPOISON: 'Memory page has hardware error',
};

export function strerror(e: Errno): string {
  return MESSAGES[e.name];
}
