export { createPaypalGateway, type PaypalGatewayOptions } from "./paypal-gateway";
