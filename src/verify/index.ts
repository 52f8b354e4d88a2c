/** Provenance and tamper check of published builds: the snapshot stored at publish, and `pibake verify`. */
export { verifyBuild, type Verified, type VerifyOptions } from './verify.ts'
export { snapshotOnHost } from './remote.ts'
export { SIGNATURE_NAMESPACE, type ProvenanceFields } from './record.ts'
