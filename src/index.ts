export * from './errors.ts'
export { defineRecipe } from './recipe/define.ts'
export { loadRecipe, type LoadOptions } from './recipe/load.ts'
export { validateRecipe, type ValidateOptions } from './recipe/validate.ts'
export { macToDashed } from './recipe/node.ts'
export { NETBOOT_MODELS } from './recipe/types.ts'
export type {
  Arch,
  Destination,
  DestinationInput,
  Dhcp,
  DhcpInput,
  ImageInput,
  NetbootInput,
  NetbootModel,
  Node,
  NodeInput,
  PiModel,
  PublishTarget,
  PublishTargetInput,
  Recipe,
  RecipeInput,
} from './recipe/types.ts'
export { build, plan, type BuildOptions, type BuildResult } from './build.ts'
export { clean } from './clean.ts'
export { discover, type DiscoverOptions, type DiscoverSource, type Discovered } from './site/discover.ts'
export { rehearse, type RehearseOptions, type Rehearsal } from './rehearse/rehearse.ts'
export { runStorm, type StormOptions, type StormReport, type StormTotals } from './rehearse/storm.ts'
export { stormInNamespace } from './rehearse/inside.ts'
export { bringUpSeconds, fleetSizing, linkSlots, sizingLimits, type BootLoad, type FleetSizing } from './netboot/sizing.ts'
export { pi3Clause, pi3Split, PI3_CONF, type Pi3Split } from './netboot/pi3-split.ts'
export { renderPi3DnsmasqConf } from './netboot/pi3-dnsmasq.ts'
export { nodeStatus, type NodeStatus } from './nodes.ts'
export { takeSnapshot, readSnapshot, writeSnapshot, diffSnapshots, formatDiff, diffToJson } from './snapshot/index.ts'
export type { Snapshot, Entry, Diff, Change } from './snapshot/index.ts'
export { snapshotImage, loadAnySnapshot } from './snapshot/image.ts'
export { verifyBuild, snapshotOnHost, SIGNATURE_NAMESPACE } from './verify/index.ts'
export type { Verified, VerifyOptions, ProvenanceFields } from './verify/index.ts'
export type { BuildEvent, BuildSummary, EventSink, PlannedStage, PublishedTarget } from './pipeline/events.ts'
export { installSchedule, removeSchedule, scheduleUnits, type Removed, type Schedule, type ScheduleOptions } from './schedule/install.ts'
export type * from './recipe/steps.ts'
export { serve, type ServeOptions, type Serving } from './web/serve.ts'
export { report, type ReportOptions } from './web/report.ts'
export { openSite, type Site } from './site/store.ts'
export { buildDirSbom, recipeSbom } from './sbom/read.ts'
export { findPackage, type PackageInBuild, type PackageQuery } from './sbom/query.ts'
export { SBOM_FORMATS, type SbomFormat } from './sbom/files.ts'
