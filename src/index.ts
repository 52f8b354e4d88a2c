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
