export { CardVault, openText, sealText, type CardSecret, type SealedCard } from "./vault";
export { loadCardSecrets, purgeCardSecrets } from "./repository";
export { cardSecrets } from "./schema";
