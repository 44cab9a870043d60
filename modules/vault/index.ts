export {
  CardDataUnavailable,
  CardVault,
  deriveKey,
  KeyRing,
  SealedDataUnavailable,
  type CardSecret,
  type SealedCard,
  type SealedValue,
} from "./vault";
export { loadCardVault } from "./keys";
export { dropCardCvcs, loadCardSecrets, purgeCardSecrets, sealedCardsInsert } from "./repository";
export { cardSecrets, vaultKeys } from "./schema";
