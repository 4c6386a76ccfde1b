import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b,c}from"./chunk-WB22STUL.js";import"./chunk-LY6R7TCQ.js";import"./chunk-IAIFZJIT.js";import"./chunk-JUMLIUE5.js";import"./chunk-JIBHREYX.js";import"./chunk-POMNULAG.js";import"./chunk-WPHV7DLO.js";import"./chunk-YFVD6TZ7.js";import"./chunk-PXY4A5DK.js";import"./chunk-YXZBWGRW.js";import"./chunk-7CGTBPER.js";import"./chunk-LFPHRO4A.js";export{c as awaitingAutomaticPublication,a as followUp,b as publishMerged};
