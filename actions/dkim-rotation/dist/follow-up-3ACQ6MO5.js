import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b,c}from"./chunk-IJZ6HA3C.js";import"./chunk-QLEKZAUJ.js";import"./chunk-BE4P4HIN.js";import"./chunk-DR56LOVD.js";import"./chunk-OFLJXVXY.js";import"./chunk-POMNULAG.js";import"./chunk-WPHV7DLO.js";import"./chunk-YFVD6TZ7.js";import"./chunk-PXY4A5DK.js";import"./chunk-YXZBWGRW.js";import"./chunk-7CGTBPER.js";import"./chunk-LFPHRO4A.js";export{c as awaitingAutomaticPublication,a as followUp,b as publishMerged};
