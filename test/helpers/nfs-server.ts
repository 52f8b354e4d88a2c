/** A real NFS server (rpcbind + nfs-ganesha) in a test namespace, as `pibake try` runs it (src/try/nfs-server.ts). */
export { ganeshaConf, startNfsServer, type NfsServer, type NfsServerOptions } from '../../src/try/nfs-server.ts'
