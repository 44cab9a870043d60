export { CardVault, type CardSecret, type SealedCard } from "./vault";
export { storeCardSecret, loadCardSecret, loadCardSecrets, purgeCardSecret, purgeCardSecrets } from "./repository";
export { cardSecrets } from "./schema";
